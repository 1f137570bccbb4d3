package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bprun/bp/engine"
)

// Relay carries runs' live events from the worker that runs them to the
// processes that follow them (an API replica answering ?wait=1), and
// cancellations back. Implementations are safe for concurrent use.
type Relay interface {
	// Sink is where one run's events go, already scrubbed, as they
	// happen. The run's top-level run.finished comes last, once the run
	// is recorded.
	Sink(runID string) engine.Sink
	// OnCancel calls cancel when anyone asks for the run to be cancelled,
	// until stop is called.
	OnCancel(runID string, cancel func()) (stop func(), err error)
}

// Worker takes runs from a Queue and runs them: bp worker. A run it stops
// because it is itself stopping is given back to the queue, unrecorded,
// for another worker to resume from its checkpoints; every other run ends
// with its record saved, then is acknowledged.
type Worker struct {
	Runner *Runner
	Queue  Queue
	// Journal keeps the runs' checkpoints, so that a run whose worker
	// died resumes after its last finished block; nil runs every
	// redelivered run from its start.
	Journal engine.Journal
	// Relay, when set, publishes live events and hears cancellations.
	Relay Relay
	// Runs bounds the runs in progress at once. Zero means
	// DefaultWorkerRuns.
	Runs int
	// Heartbeat is how often a run in progress is reported to the queue
	// (Delivery.InProgress). Zero means DefaultHeartbeat.
	Heartbeat time.Duration
	// MaxAttempts bounds the deliveries of one run: the next one records
	// the run as failed instead of running it again (a run that kills
	// every worker it meets). Zero means DefaultMaxAttempts.
	MaxAttempts int
	// Logger hears of what the worker cannot tell a client: records not
	// saved, deliveries that could not be acknowledged. Nil logs nothing.
	Logger *slog.Logger
}

// Defaults of Worker.
const (
	DefaultWorkerRuns  = 16
	DefaultHeartbeat   = 2 * time.Second
	DefaultMaxAttempts = 10
)

// errHandoff is the cause of a run stopped because its worker stops.
var errHandoff = errors.New("worker stopping: the run goes to another worker")

// Run takes runs until ctx ends, then stops the runs in progress, gives
// them back to the queue and returns ctx's error once they are handed
// over.
func (w *Worker) Run(ctx context.Context) error {
	max := w.Runs
	if max <= 0 {
		max = DefaultWorkerRuns
	}
	slots := make(chan struct{}, max)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		d, err := w.Queue.Next(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrQueueClosed) {
				return err
			}
			w.log().Warn("waiting for a run", slog.String("error", err.Error()))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			w.handle(ctx, d)
		}()
	}
}

func (w *Worker) log() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// queueTimeout bounds one call to the queue (ack, nak, heartbeat).
const queueTimeout = 10 * time.Second

// handle runs one delivery to its end.
func (w *Worker) handle(workerCtx context.Context, d Delivery) {
	job := d.Job()
	qctx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), queueTimeout)
	}
	settle := func(what string, f func(context.Context) error) {
		ctx, cancel := qctx()
		defer cancel()
		if err := f(ctx); err != nil {
			w.log().Warn(what, slog.String("run", job.RunID), slog.String("error", err.Error()))
		}
	}
	hist := w.Runner.opts.History
	if hist != nil && d.Attempt() > 1 {
		// The run may have ended and been recorded by a worker that died
		// before it acknowledged it. (A first delivery was never run: a
		// run id submitted again past the queue's window for duplicates
		// runs again, and its record is refused, the first one standing.)
		ctx, cancel := qctx()
		rec, err := hist.Get(ctx, job.RunID)
		cancel()
		// A store may take a prefix of an id: only the run itself counts.
		if err == nil && rec.ID == job.RunID {
			settle("acknowledging a run recorded before", d.Ack)
			return
		}
	}
	maxAttempts := w.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if d.Attempt() > maxAttempts {
		w.recordFailure(job, fmt.Errorf("run %s given up after %d attempts: each ended without a record (its worker died or stopped)", job.RunID, maxAttempts))
		settle("acknowledging a run given up", d.Ack)
		return
	}

	runCtx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopHandoff := context.AfterFunc(workerCtx, func() { cancel(errHandoff) })
	defer stopHandoff()
	var sinks []engine.Sink
	hold := &holdFinished{}
	if w.Relay != nil {
		hold.next = w.Relay.Sink(job.RunID)
		sinks = append(sinks, hold)
		stop, err := w.Relay.OnCancel(job.RunID, func() { cancel(errors.New("cancelled by a client")) })
		if err != nil {
			w.log().Warn("cannot hear cancellations", slog.String("run", job.RunID), slog.String("error", err.Error()))
		} else {
			defer stop()
		}
	}
	beat := w.Heartbeat
	if beat <= 0 {
		beat = DefaultHeartbeat
	}
	beating := make(chan struct{})
	go func() {
		t := time.NewTicker(beat)
		defer t.Stop()
		for {
			select {
			case <-beating:
				return
			case <-t.C:
				settle("reporting progress", d.InProgress)
			}
		}
	}()
	var journal engine.Journal
	if w.Journal != nil {
		journal = w.Journal
		if d.Attempt() == 1 {
			journal = freshJournal{w.Journal} // nothing to load before a first attempt
		}
	}
	res, err := w.Runner.Run(runCtx, Request{
		RunID: job.RunID, Blueprint: job.Blueprint, Payload: job.Payload, Context: job.Context, Trigger: job.Trigger,
		Sinks: sinks, Journal: journal,
		Handoff: func() bool { return errors.Is(context.Cause(runCtx), errHandoff) },
	})
	close(beating)
	switch {
	case err != nil:
		// It cannot start here (a blueprint this worker does not have):
		// say so in its record rather than hand it round for ever.
		w.recordFailure(job, err)
		if hold.next != nil {
			hold.next.Emit(&engine.Event{Time: time.Now(), Run: job.RunID, Kind: engine.RunFinished, Blueprint: job.Blueprint, Status: engine.StatusFailed, Message: err.Error()})
		}
		settle("acknowledging a run that could not start", d.Ack)
	case res.HandedOff:
		settle("giving a run back", func(ctx context.Context) error { return d.Nak(ctx, 0) })
	case res.HistoryErr != nil && !errors.Is(res.HistoryErr, ErrRunRecorded):
		// Not recorded: run it again (from its checkpoints) until it is.
		w.log().Warn("run not recorded, given back", slog.String("run", job.RunID), slog.String("error", res.HistoryErr.Error()))
		settle("giving a run back", func(ctx context.Context) error { return d.Nak(ctx, time.Second) })
	default:
		hold.release()
		settle("acknowledging a run", d.Ack)
		if f, ok := w.Journal.(interface {
			Forget(ctx context.Context, runID string) error
		}); ok {
			settle("forgetting a run's checkpoints", func(ctx context.Context) error { return f.Forget(ctx, job.RunID) })
		}
	}
}

// recordFailure saves a failed record for a run that could not run.
func (w *Worker) recordFailure(job *Job, cause error) {
	hist := w.Runner.opts.History
	if hist == nil {
		return
	}
	now := time.Now()
	rec := &RunRecord{ID: job.RunID, Blueprint: job.Blueprint, Status: engine.StatusFailed, Started: now, Error: scrubbedError(cause)}
	ctx, cancel := context.WithTimeout(context.Background(), historySaveTimeout)
	defer cancel()
	if err := hist.Save(ctx, rec); err != nil && !errors.Is(err, ErrRunRecorded) {
		w.log().Warn("run not recorded", slog.String("run", job.RunID), slog.String("error", err.Error()))
	}
}

// scrubbedError is an error's text for a record: a StartError's message is
// already scrubbed, and the worker's own errors hold no value.
func scrubbedError(err error) string { return err.Error() }

// freshJournal is a journal for a run's first attempt, which has nothing
// to load.
type freshJournal struct{ engine.Journal }

func (freshJournal) Load(context.Context, string) ([]*engine.Checkpoint, error) { return nil, nil }

// holdFinished passes a run's events on, but holds back its top-level
// run.finished until the run is recorded: a follower that sees the run
// end finds its record.
type holdFinished struct {
	next engine.Sink

	mu       sync.Mutex
	finished *engine.Event
}

func (h *holdFinished) Emit(e *engine.Event) {
	if e.Kind == engine.RunFinished && e.Scope == "" {
		c := *e
		h.mu.Lock()
		h.finished = &c
		h.mu.Unlock()
		return
	}
	h.next.Emit(e)
}

func (h *holdFinished) release() {
	h.mu.Lock()
	e := h.finished
	h.finished = nil
	h.mu.Unlock()
	if e != nil && h.next != nil {
		h.next.Emit(e)
	}
}
