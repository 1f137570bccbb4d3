package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Journal keeps a run's checkpoints: what each finished block did. A run
// whose process died is resumed by running it again, with the same run id,
// over the same journal: blocks that have a checkpoint are not run again
// (their recorded outcome, result and output stand in for them), the ones
// that were in flight are. So each block runs at least once, and a block
// recorded runs exactly once.
//
// Checkpoints hold values before scrubbing (results, state, the values
// blocks masked): an implementation keeps them sealed, never in clear.
// Triggers and the return block that ends the run are not checkpointed:
// running them again does nothing but give the same result.
// Implementations are safe for concurrent use. A run without a journal
// (RunOptions.Journal nil, the default) records nothing and pays nothing.
type Journal interface {
	// Load returns the checkpoints recorded for a run, in any order; none
	// for a run never started.
	Load(ctx context.Context, runID string) ([]*Checkpoint, error)
	// Record stores one checkpoint durably. The run waits for it before
	// the blocks after this one start.
	Record(ctx context.Context, runID string, cp *Checkpoint) error
}

// Checkpoint is one finished block of a run, as a Journal keeps it.
type Checkpoint struct {
	// Seq orders a run's checkpoints as their blocks ended.
	Seq int64 `json:"seq"`
	// Scope and Block identify the block: Scope is the event's scope ("",
	// "each[2]", "call:other"), the same on every attempt of the run.
	Scope     string `json:"scope,omitempty"`
	Block     string `json:"block"`
	Blueprint string `json:"blueprint"`
	Type      string `json:"type"`
	Outcome   string `json:"outcome"`
	Status    string `json:"status"`
	Result    any    `json:"result,omitempty"`
	// Message is the block's error, if it had one (@{message} after it).
	Message string `json:"message,omitempty"`
	// Output is what the block printed and warned, in order, replayed to
	// the run's sink when the run is resumed.
	Output []CheckpointOutput `json:"output,omitempty"`
	// State is the run's whole state after the block, when it changed
	// since the previous checkpoint; nil when it did not.
	State map[string]any `json:"state"`
	// Masked are the values the block registered as secrets (Call.Mask):
	// a resumed run masks them before it emits anything.
	Masked   []string      `json:"masked,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
}

// CheckpointOutput is one output or warning event of a checkpointed block.
type CheckpointOutput struct {
	Kind    EventKind `json:"kind"`
	Block   string    `json:"block,omitempty"` // "" for a warning about the whole run
	Stream  string    `json:"stream,omitempty"`
	Message string    `json:"message"`
}

// journal is one run's use of its Journal: what was loaded, and what this
// attempt records.
type journal struct {
	j      Journal
	replay map[[2]string]*Checkpoint // by scope and block id

	mu       sync.Mutex
	seq      int64
	stateVer uint64 // the state version last recorded
	failed   bool   // a checkpoint could not be recorded (said once)
}

// openJournal loads a run's checkpoints: the masked values go to the
// scrubber and the latest state becomes the run's, before anything is
// emitted. It returns the checkpoints to replay as events, in order.
func (sh *shared) openJournal(ctx context.Context) ([]*Checkpoint, error) {
	cps, err := sh.opts.Journal.Load(ctx, sh.runID)
	if err != nil {
		return nil, fmt.Errorf("run %s: loading its checkpoints: %w", sh.runID, err)
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	jn := &journal{j: sh.opts.Journal}
	if len(cps) > 0 {
		jn.replay = make(map[[2]string]*Checkpoint, len(cps))
	}
	var state map[string]any
	for _, cp := range cps {
		jn.replay[[2]string{cp.Scope, cp.Block}] = cp
		jn.seq = max(jn.seq, cp.Seq)
		if cp.State != nil {
			state = cp.State
		}
		if sh.opts.OnSecret != nil {
			for _, v := range cp.Masked {
				sh.opts.OnSecret(v)
			}
		}
	}
	if state != nil {
		sh.state = newStateStore(state)
		sh.state.version = 1
	}
	jn.stateVer = sh.state.version
	sh.journal = jn
	return cps, nil
}

// replayEvents emits the events of the blocks a previous attempt ran, so
// that the run's log and record are whole.
func (sh *shared) replayEvents(cps []*Checkpoint) {
	for _, cp := range cps {
		base := Event{Run: sh.runID, Blueprint: cp.Blueprint, Scope: cp.Scope, Block: cp.Block, Type: cp.Type}
		ev := base
		ev.Time, ev.Kind, ev.Status = cp.Started, BlockStarted, StatusRunning
		sh.sink.Emit(&ev)
		for _, o := range cp.Output {
			ev := base
			ev.Time, ev.Kind, ev.Block, ev.Stream, ev.Message = cp.Started, o.Kind, o.Block, o.Stream, o.Message
			if o.Block == "" {
				ev.Type = ""
				sh.markWarned(o.Message)
			}
			sh.sink.Emit(&ev)
		}
		ev = base
		ev.Time, ev.Kind, ev.Outcome, ev.Status, ev.Result, ev.Message, ev.Duration = cp.Started.Add(cp.Duration), BlockFinished, cp.Outcome, cp.Status, cp.Result, cp.Message, cp.Duration
		sh.sink.Emit(&ev)
	}
}

// replayed is the checkpoint of a block a previous attempt finished.
func (sh *shared) replayed(scope, block string) *Checkpoint {
	if sh.journal == nil || sh.journal.replay == nil {
		return nil
	}
	return sh.journal.replay[[2]string{scope, block}]
}

// callRecord is what a block emits, kept for its checkpoint.
type callRecord struct {
	mu     sync.Mutex
	output []CheckpointOutput
	masked []string
}

func (rec *callRecord) add(o CheckpointOutput) {
	rec.mu.Lock()
	rec.output = append(rec.output, o)
	rec.mu.Unlock()
}

func (rec *callRecord) mask(v string) {
	rec.mu.Lock()
	rec.masked = append(rec.masked, v)
	rec.mu.Unlock()
}

// replayable reports whether a block needs no checkpoint, because running
// it again in a resumed run gives the same result and does nothing else:
// a trigger (its result is the payload), and the return block that ends
// the whole run (nothing follows it but the run's record).
func (r *run) replayable(n *node, out *blockOutcome) bool {
	return n.ts.Trigger || (n.ts.Return && r.scope == "" && out.status == StatusSucceeded)
}

// checkpointTimeout bounds the wait for one checkpoint, even when the run
// is being cancelled: a block that finished is worth recording.
const checkpointTimeout = 30 * time.Second

// checkpoint records a finished block. A checkpoint that cannot be
// recorded costs only a second run of the block if the run is resumed:
// the run goes on, and says so once.
func (r *run) checkpoint(c *Call, out *blockOutcome, started time.Time, d time.Duration) {
	jn := r.sh.journal
	cp := &Checkpoint{
		Scope: r.scope, Block: c.n.spec.ID, Blueprint: r.prog.bp.Key, Type: c.n.ts.Name,
		Outcome: out.outcome, Status: out.status, Result: out.value, Started: started, Duration: d,
	}
	if out.err != nil {
		cp.Message = out.err.Error()
	}
	if c.rec != nil {
		c.rec.mu.Lock()
		cp.Output, cp.Masked = c.rec.output, c.rec.masked
		c.rec.mu.Unlock()
	}
	// The sequence number and the state are taken together, so that the
	// checkpoint with the highest number holds the latest state.
	jn.mu.Lock()
	jn.seq++
	cp.Seq = jn.seq
	state, ver := r.sh.state.snapshotVersion()
	if ver != jn.stateVer {
		cp.State = state
		jn.stateVer = ver
	}
	jn.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), checkpointTimeout)
	err := jn.j.Record(ctx, r.sh.runID, cp)
	cancel()
	if err == nil {
		return
	}
	jn.mu.Lock()
	said := jn.failed
	jn.failed = true
	if cp.State != nil {
		jn.stateVer = 0 // the next checkpoint carries the state again
	}
	jn.mu.Unlock()
	if !said {
		r.emit(&Event{Time: time.Now(), Kind: RunWarning, Block: c.n.spec.ID, Type: c.n.ts.Name,
			Message: fmt.Sprintf("checkpoint not recorded (the block may run again if the run is resumed): %v", err)})
	}
}

// IdempotencyKey names this execution of the block for the systems it
// calls: the same on every attempt of a resumed run, different for each
// block, loop iteration and called blueprint. Empty when the run has no
// journal, and so cannot be resumed.
func (c *Call) IdempotencyKey() string {
	if c.r.sh.journal == nil {
		return ""
	}
	key := c.r.sh.runID + "/"
	if c.r.scope != "" {
		key += c.r.scope + "/"
	}
	return key + c.n.spec.ID
}
