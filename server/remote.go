package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
)

// Remote runs the server's runs elsewhere: bp serve --nats hands them to
// bp worker processes through a queue, and answers from the history they
// share (Options.History). The server keeps no run in memory then: any
// replica answers for any run.
type Remote interface {
	// Submit queues a run; a run id submitted again starts no second run.
	Submit(ctx context.Context, job *runner.Job) error
	// Follow calls fn with each live event of a run, already scrubbed by
	// the worker, until stop is called; events may be missed (the run's
	// record has them all).
	Follow(ctx context.Context, runID string, fn func(runner.EventJSON)) (stop func(), err error)
	// Cancel asks the worker that runs a run to cancel it.
	Cancel(ctx context.Context, runID string) error
	// Status is "queued" or "running" for a run submitted and not yet
	// recorded, else an error wrapping runner.ErrRunNotFound.
	Status(ctx context.Context, runID string) (string, error)
}

// maxIdempotencyKey bounds a client's Idempotency-Key header.
const maxIdempotencyKey = 256

// runIDSpace names run ids derived from clients' idempotency keys.
var runIDSpace = uuid.MustParse("6f1d7a52-93c4-4c63-9a4e-2b0b0d1f8e11")

// remotePollEvery is how often a stream following a remote run looks for
// its record, in case the live run.finished was missed.
const remotePollEvery = time.Second

// postRemoteRun queues a run for the workers. A client that sends an
// Idempotency-Key gets the same run id for the same key and blueprint, so
// a retried POST starts no second run.
func (s *Server) postRemoteRun(w http.ResponseWriter, r *http.Request, key, trigger string, wait bool) {
	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > maxIdempotencyKey {
		s.refuseBody(w, r)
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
		return
	}
	payload, ok := s.readPayload(w, r)
	if !ok {
		return
	}
	id := uuid.NewString()
	recorded := false
	if idem != "" {
		id = uuid.NewSHA1(runIDSpace, []byte(key+"\x00"+idem)).String()
		// Retried after the queue's window for duplicates: the run
		// exists, and is answered as it is, not run again.
		if rec, err := s.opts.History.Get(r.Context(), id); err == nil && rec.ID == id {
			recorded = true
			if !wait {
				w.Header().Set("Location", "/v1/runs/"+id)
				s.writeJSON(w, http.StatusAccepted, map[string]string{"run": id, "blueprint": key, "status": rec.Status}, nil)
				return
			}
		}
	}
	rn := &run{
		id: id, blueprint: key, sc: scrub.New(), start: time.Now(), metrics: s.metrics,
		maxEvents: s.opts.MaxEvents, maxBytes: s.opts.MaxEventBytes, started: make(chan struct{}), done: make(chan struct{}),
	}
	var sub *subscriber
	if wait {
		// Follow before submitting, so that no event goes by unseen.
		sub = rn.subscribe(DefaultMaxPending, s.opts.MaxEventBytes)
		stop, err := s.opts.Remote.Follow(r.Context(), id, rn.remoteEvent)
		if err != nil {
			s.fail(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		defer stop()
	}
	var err error
	if !recorded {
		err = s.opts.Remote.Submit(r.Context(), &runner.Job{RunID: id, Blueprint: key, Payload: payload, Trigger: trigger, Submitted: time.Now().UTC()})
	}
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, "queueing the run: "+err.Error())
		return
	}
	w.Header().Set("Location", "/v1/runs/"+id)
	if !wait {
		s.writeJSON(w, http.StatusAccepted, map[string]string{"run": id, "blueprint": key, "status": "queued"}, nil)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go s.pollRecord(ctx, rn)
	// The run belongs to this request: a client that goes away cancels it.
	stop := context.AfterFunc(r.Context(), func() {
		select {
		case <-rn.done:
		default:
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.opts.Remote.Cancel(cctx, id)
		}
	})
	defer stop()
	s.stream(w, r, rn, sub)
}

// remoteEvent takes one live event of a remote run; its top-level
// run.finished ends the run (the worker sends it once the run is
// recorded).
func (rn *run) remoteEvent(e runner.EventJSON) {
	data, err := marshal(e)
	if err != nil {
		return
	}
	ev := rawEvent{kind: e.Event, data: data}
	rn.mu.Lock()
	if rn.result != nil {
		rn.mu.Unlock()
		return
	}
	rn.appendLocked(ev)
	if e.Event != string(engine.RunFinished) || e.Scope != "" {
		rn.mu.Unlock()
		return
	}
	res := &runner.Result{RunID: rn.id, Blueprint: rn.blueprint, Status: e.Status, Return: e.Result, HasReturn: e.Status == engine.StatusReturned}
	if e.DurationMS != nil {
		res.Duration = time.Duration(*e.DurationMS * float64(time.Millisecond))
	}
	if e.Message != "" {
		res.Err = errors.New(e.Message)
	}
	rn.result = res
	rn.mu.Unlock()
	close(rn.done)
}

// pollRecord ends a followed remote run from its record, should its live
// run.finished have been missed (a worker that died as it sent it, a
// duplicate submission of a run already recorded).
func (s *Server) pollRecord(ctx context.Context, rn *run) {
	t := time.NewTicker(remotePollEvery)
	defer t.Stop()
	for {
		if rec, err := s.opts.History.Get(ctx, rn.id); err == nil && rec.ID == rn.id {
			finished := runner.EventJSON{Time: time.Now().UTC(), Run: rec.ID, Event: string(engine.RunFinished), Blueprint: rec.Blueprint,
				Status: rec.Status, Message: rec.Error, Result: rec.Return}
			ms := rec.DurationMS
			finished.DurationMS = &ms
			rn.remoteEvent(finished)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-rn.done:
			return
		case <-t.C:
		}
	}
}

// remoteStatus answers for a run submitted to the workers and not yet
// recorded: true when it wrote the answer.
func (s *Server) remoteStatus(w http.ResponseWriter, r *http.Request, id string, events bool) bool {
	if s.opts.Remote == nil {
		return false
	}
	if _, err := s.opts.History.Get(r.Context(), id); !errors.Is(err, runner.ErrRunNotFound) {
		return false // recorded (or an error that fromHistory answers)
	}
	status, err := s.opts.Remote.Status(r.Context(), id)
	if err != nil {
		return false
	}
	if events {
		// A worker holds them until the run is recorded: follow a run
		// with ?wait=1 to see them as they happen.
		w.Header().Set("X-Bp-Run-Status", status)
		s.writeJSON(w, http.StatusOK, []runner.EventJSON{}, nil)
		return true
	}
	s.writeJSON(w, http.StatusOK, runInfo{Run: id, Status: status}, nil)
	return true
}
