package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// Options configure a Runner.
type Options struct {
	// Library holds the blueprints runs can start and call.
	Library *Library
	// OpenVault opens the vault for a run, read-only; nil, or a nil vault
	// with a nil error, means runs have no vault.
	OpenVault func() (*vault.Vault, error)
	// Secrets, when set, is used instead of OpenVault (golden-file tests'
	// fake vaults, or programs that keep secrets elsewhere).
	Secrets engine.SecretSource
	// Cache, when set, keeps the vault's snapshot and the scrubbers built
	// for its secrets from run to run, for a long-lived process; VaultPath
	// is the file OpenVault opens, which the Cache watches for changes.
	// Without a VaultPath only the scrubbers are kept.
	Cache     *Cache
	VaultPath string
	// History records finished runs; nil records nothing. A run returns
	// only once its record is saved, or with Result.HistoryErr saying
	// why it is not.
	History HistoryStore
	// MaxParallel and Timeout are the defaults for runs that set none.
	MaxParallel int
	Timeout     time.Duration
	// LookupEnv reads the environment variables blueprints list under
	// env:; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Runner runs blueprints. It is safe for concurrent use.
type Runner struct {
	opts Options
}

// New makes a Runner.
func New(opts Options) *Runner {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	return &Runner{opts: opts}
}

// Library is the runner's library of blueprints.
func (r *Runner) Library() *Library { return r.opts.Library }

// Request is one run to start.
type Request struct {
	Blueprint string
	Payload   any
	Context   map[string]any
	// State is the run's initial state; the run does not modify it.
	State       map[string]any
	Trigger     string
	MaxParallel int
	Timeout     time.Duration
	// RunID, when set, names the run; else a new UUID does.
	RunID string
	// Sinks receive the run's events, already scrubbed.
	Sinks []engine.Sink
	// Scrubber, when set, is the run's scrubber, so a caller can scrub
	// its own output streams with the same secrets. Else the run makes
	// its own.
	Scrubber *scrub.Scrubber
	// OnSecret, when set, is given each value the run masks (the vault's
	// it reads, then those blocks register with mask), once the scrubber
	// knows it: for a caller that must keep them out of files of its own
	// (bp test --record). It must not show them.
	OnSecret func(value string)
	// Recording, when set, is called once the run has ended and before
	// its record is saved (only when there is a history): a server frees
	// the run's slot there, so that runs waiting on the disk do not keep
	// others from starting. The run is not reported finished until Run
	// returns.
	Recording func()
	// Journal, when set, keeps the run's per-block checkpoints and resumes
	// it from those an earlier attempt with the same RunID recorded (see
	// engine.Journal): how a Worker runs runs that outlive a process.
	Journal engine.Journal
	// Handoff, when set, is asked once the run has ended: true means the
	// run was stopped to be handed to another process (its worker is
	// shutting down), so it is not recorded, and its result is not final.
	Handoff func() bool
}

// Result is a finished run, scrubbed: nothing in it holds a secret.
type Result struct {
	RunID     string
	Blueprint string
	Status    string
	Return    any
	HasReturn bool
	Err       error
	Duration  time.Duration
	// HistoryErr says why the run could not be recorded, if it could not.
	HistoryErr error
	// HistoryTime is how long recording the run took.
	HistoryTime time.Duration
	// HandedOff says that the run was stopped to be resumed by another
	// process (Request.Handoff): it was not recorded, and its status is
	// not its final one.
	HandedOff bool
}

// historySaveTimeout bounds the wait for a run's record to be saved, even
// when the run itself was cancelled.
const historySaveTimeout = 30 * time.Second

// ErrUnknownTrigger is wrapped by the error of a run asked to start at a
// block its blueprint does not have.
var ErrUnknownTrigger = errors.New("unknown trigger")

// StartError is a run that could not start: an unknown or invalid
// blueprint, or a vault that would not open. Its message is scrubbed.
type StartError struct {
	Blueprint string
	Err       error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Run runs one blueprint to its end. The error is for runs that could not
// start; a run that started and failed has a Result with Status failed.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	s := req.Scrubber
	if s == nil {
		s = scrub.New()
	}
	fail := func(err error) (*Result, error) {
		return nil, &StartError{Blueprint: req.Blueprint, Err: s.Error(err)}
	}
	if r.opts.Library == nil {
		return fail(errors.New("runner has no library of blueprints"))
	}
	// The run keeps this version of the library to its end, the
	// blueprints it calls included, whatever Reload does meanwhile.
	lib := r.opts.Library.version()
	prog, err := lib.Program(req.Blueprint)
	if err != nil {
		return fail(err)
	}
	if req.Trigger != "" && !prog.HasBlock(req.Trigger) {
		return fail(fmt.Errorf("blueprint %s has no block %q to start at: %w", prog.Key(), req.Trigger, ErrUnknownTrigger))
	}
	// The secrets the blueprint can see are registered before the run
	// emits anything; the engine then opens each only when a block reads
	// it (engine.RunOptions.SecretsMasked).
	secrets, release, err := r.runSecrets(ctx, prog, s, req.OnSecret)
	if err != nil {
		return fail(err)
	}
	defer release()

	runID := req.RunID
	if runID == "" {
		runID = uuid.NewString()
	}
	sink := newScrubSink(s, req.Sinks)
	var rec *historyRecorder
	if r.opts.History != nil {
		rec = newHistoryRecorder(runID, prog.Key())
		sink.sinks = append(sink.sinks, rec)
	}
	opts := engine.RunOptions{
		RunID:         runID,
		Payload:       req.Payload,
		Context:       req.Context,
		State:         req.State,
		Trigger:       req.Trigger,
		Sink:          sink,
		Secrets:       secrets,
		SecretsMasked: true,
		OnSecret: func(v string) {
			s.Add(v)
			if req.OnSecret != nil {
				req.OnSecret(v)
			}
		},
		MaxParallel: firstNonZero(req.MaxParallel, r.opts.MaxParallel),
		Timeout:     firstNonZeroDuration(req.Timeout, r.opts.Timeout),
		Library:     lib,
		LookupEnv:   r.opts.LookupEnv,
	}
	if rec != nil {
		opts.OnSecretRead = rec.secretRead
	}
	if req.Journal != nil {
		opts.Journal = req.Journal
	}
	res := prog.Run(ctx, opts)
	out := &Result{
		RunID:     res.RunID,
		Blueprint: res.Blueprint,
		Status:    res.Status,
		HasReturn: res.HasReturn,
		Duration:  res.Duration,
	}
	if res.HasReturn {
		out.Return = s.Value(res.Return)
	}
	if res.Err != nil {
		out.Err = s.Error(res.Err)
	}
	if req.Handoff != nil && req.Handoff() {
		out.HandedOff = true
		return out, nil
	}
	if rec != nil {
		// Secrets masked late in the run (a token a block found) are
		// masked in the events recorded before it too.
		rec.rescrub(s)
		if req.Recording != nil {
			req.Recording()
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historySaveTimeout)
		start := time.Now()
		err := r.opts.History.Save(sctx, rec.record(out))
		out.HistoryTime = time.Since(start)
		cancel()
		if err != nil {
			// The run itself is done; its caller decides what a lost
			// record means, and must be told.
			out.HistoryErr = s.Error(fmt.Errorf("run %s not recorded in the run history: %w", out.RunID, err))
		}
	}
	return out, nil
}

func firstNonZero(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func firstNonZeroDuration(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}
