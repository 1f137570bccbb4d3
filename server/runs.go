package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/bprun/bp/blueprints"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
)

// keepAlive is how often an idle event stream gets a comment, so that
// proxies do not close it.
const keepAlive = 15 * time.Second

// run is a run this server started: in progress, or finished and kept.
type run struct {
	id, blueprint string
	sc            *scrub.Scrubber // the run's own: it knows every secret the run can see
	start         time.Time
	ctx           context.Context
	cancel        context.CancelFunc
	metrics       *metrics
	maxEvents     int
	maxBytes      int

	started chan struct{} // closed at the run's first event
	done    chan struct{} // closed when the runner returned

	mu       sync.Mutex
	gotFirst bool
	final    *rawEvent  // run.finished, held back until the run is recorded
	events   []rawEvent // the first ones within maxEvents and maxBytes, as JSON, already scrubbed
	bytes    int
	dropped  int
	subs     []*subscriber
	result   *runner.Result // set before done is closed
	startErr error          // the run could not start; set before done
}

// rawEvent is an event as the API shows it: its kind and its JSON. It is
// encoded when it happens, so that later changes to values it refers to
// cannot race with an answer.
type rawEvent struct {
	kind string
	data []byte
}

// Emit receives the run's events from the runner, already scrubbed.
func (rn *run) Emit(e *engine.Event) {
	if e.Kind == engine.BlockFinished {
		rn.metrics.blockFinished(e)
	}
	j := runner.ToJSON(e)
	data, err := marshal(j)
	if err != nil {
		j.Result = nil
		j.Message += " (result not shown: " + err.Error() + ")"
		data, _ = marshal(j)
	}
	ev := rawEvent{kind: j.Event, data: data}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if !rn.gotFirst {
		rn.gotFirst = true
		close(rn.started)
	}
	if e.Kind == engine.RunFinished && e.Scope == "" {
		// A run is reported finished once its record is saved: a client
		// that saw it end finds it in history, even after a crash.
		rn.final = &ev
		return
	}
	rn.appendLocked(ev)
}

// appendLocked keeps an event within the bounds and sends it to the
// streams that follow the run.
func (rn *run) appendLocked(ev rawEvent) {
	// The last event, run.finished, is kept whatever the bounds.
	if ev.kind == string(engine.RunFinished) || (len(rn.events) < rn.maxEvents && rn.bytes+len(ev.data) <= rn.maxBytes) {
		rn.events = append(rn.events, ev)
		rn.bytes += len(ev.data)
	} else {
		rn.dropped++
	}
	for _, sub := range rn.subs {
		sub.push(ev)
	}
}

func (rn *run) finish(res *runner.Result, err error) {
	rn.mu.Lock()
	rn.result, rn.startErr = res, err
	if rn.final != nil {
		rn.appendLocked(*rn.final)
		rn.final = nil
	}
	rn.mu.Unlock()
	close(rn.done)
}

// subscribe follows the run's events from now on.
func (rn *run) subscribe(max, maxBytes int) *subscriber {
	sub := &subscriber{max: max, maxBytes: maxBytes, notify: make(chan struct{}, 1)}
	rn.mu.Lock()
	rn.subs = append(rn.subs, sub)
	rn.mu.Unlock()
	return sub
}

// subscriber is one event stream's queue. The run never waits for a
// client: a client that reads too slowly loses events, and is told how
// many.
type subscriber struct {
	max, maxBytes int
	notify        chan struct{}

	mu      sync.Mutex
	queue   []rawEvent
	bytes   int
	dropped int
}

func (s *subscriber) push(e rawEvent) {
	s.mu.Lock()
	if len(s.queue) < s.max && s.bytes+len(e.data) <= s.maxBytes {
		s.queue = append(s.queue, e)
		s.bytes += len(e.data)
	} else {
		s.dropped++
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() ([]rawEvent, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, d := s.queue, s.dropped
	s.queue, s.dropped, s.bytes = nil, 0, 0
	return q, d
}

// runInfo is a run as GET /v1/runs/{id} and the final "result" event of a
// stream show it.
type runInfo struct {
	Run           string     `json:"run"`
	Blueprint     string     `json:"blueprint,omitempty"`
	Status        string     `json:"status"`
	Started       *time.Time `json:"started,omitempty"`
	DurationMS    *float64   `json:"duration_ms,omitempty"`
	Return        any        `json:"return"`
	HasReturn     bool       `json:"has_return"`
	Error         string     `json:"error,omitempty"`
	DroppedEvents int        `json:"dropped_events,omitempty"`
	// HistoryError says that the run finished but is not in the run
	// history, and why.
	HistoryError string `json:"history_error,omitempty"`
	// Cut says that history cut the run's record to bound its size.
	Cut bool `json:"cut,omitempty"`
}

func (s *Server) runInfo(rn *run) runInfo {
	in := rn.info()
	in.Error = s.clean(rn.sc, in.Error)
	in.HistoryError = s.clean(rn.sc, in.HistoryError)
	return in
}

func (rn *run) info() runInfo {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	start := rn.start.UTC()
	in := runInfo{Run: rn.id, Blueprint: rn.blueprint, Status: engine.StatusRunning, Started: &start, DroppedEvents: rn.dropped}
	if res := rn.result; res != nil {
		in.Status = res.Status
		ms := float64(res.Duration.Microseconds()) / 1000
		in.DurationMS = &ms
		in.Return, in.HasReturn = res.Return, res.HasReturn
		if res.Err != nil {
			in.Error = rn.sc.String(res.Err.Error())
		}
		if res.HistoryErr != nil {
			in.HistoryError = rn.sc.String(res.HistoryErr.Error())
		}
	}
	return in
}

func recordInfo(rec *runner.RunRecord) runInfo {
	start := rec.Started
	ms := rec.DurationMS
	return runInfo{
		Run: rec.ID, Blueprint: rec.Blueprint, Status: rec.Status, Started: &start, DurationMS: &ms,
		Return: rec.Return, HasReturn: rec.HasReturn, Error: rec.Error, DroppedEvents: rec.DroppedEvents, Cut: rec.Cut,
	}
}

// startRun starts a run, in the slot its caller acquired, in the
// background and returns once it started (its first event) or failed to
// start: then with the error, and the run when it got as far as having a
// scrubber. The slot is released when the run ends.
func (s *Server) startRun(key string, payload any, trigger string, follow bool) (*run, *subscriber, error) {
	rn := &run{
		id: uuid.NewString(), blueprint: key, sc: scrub.New(), start: time.Now(), metrics: s.metrics,
		maxEvents: s.opts.MaxEvents, maxBytes: s.opts.MaxEventBytes, started: make(chan struct{}), done: make(chan struct{}),
	}
	rn.ctx, rn.cancel = context.WithCancel(s.ctx)
	var sub *subscriber
	if follow {
		sub = rn.subscribe(DefaultMaxPending, s.opts.MaxEventBytes)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		rn.cancel()
		s.admit.release()
		return nil, nil, errClosing
	}
	s.runs[rn.id] = rn
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		recording := false
		res, err := s.opts.Runner.Run(rn.ctx, runner.Request{
			Blueprint: key, Payload: payload, Trigger: trigger, RunID: rn.id,
			Sinks: []engine.Sink{rn}, Scrubber: rn.sc,
			Recording: func() {
				s.admit.recordingStarts()
				recording = true
			},
		})
		rn.cancel()
		if res != nil {
			s.metrics.runEnded(key, res, res.HistoryTime > 0 || res.HistoryErr != nil)
			if res.HistoryErr != nil {
				s.warn("run not recorded", slog.String("run", rn.id), slog.String("blueprint", key), slog.String("error", rn.sc.String(res.HistoryErr.Error())))
			}
		}
		rn.finish(res, err)
		if recording {
			s.admit.recorded()
		} else {
			s.admit.release()
		}
		s.retire(rn)
	}()

	select {
	case <-rn.started:
	case <-rn.done:
	}
	rn.mu.Lock()
	err := rn.startErr
	rn.mu.Unlock()
	if err != nil {
		return rn, nil, err
	}
	return rn, sub, nil
}

// retire forgets a finished run that history holds, or that never
// started; it keeps any other among the KeepRuns newest, as the only
// place it can be read from.
func (s *Server) retire(rn *run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rn.startErr != nil || (s.opts.History != nil && rn.result.HistoryErr == nil) {
		delete(s.runs, rn.id)
		return
	}
	s.finished = append(s.finished, rn.id)
	for len(s.finished) > s.opts.KeepRuns {
		delete(s.runs, s.finished[0])
		s.finished = s.finished[1:]
	}
}

func (s *Server) lookup(id string) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

// POST /v1/blueprints/{key}/runs[?wait=1][&trigger=ID][&queue_wait=D]
//
// The request is checked, then waits for a slot, and only then is its
// body read: a queued request holds a connection, not a payload.
func (s *Server) postRun(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	wait := false
	if v := q.Get("wait"); v != "" {
		var err error
		if wait, err = strconv.ParseBool(v); err != nil {
			s.refuseBody(w, r)
			s.fail(w, http.StatusBadRequest, "wait must be 1 or 0, true or false")
			return
		}
	}
	queueWait := s.opts.QueueWait
	if v := q.Get("queue_wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.refuseBody(w, r)
			s.fail(w, http.StatusBadRequest, "queue_wait must be a duration such as 500ms or 2s")
			return
		}
		queueWait = min(d, queueWait)
	}
	trigger := q.Get("trigger")
	if len(trigger) > maxEcho {
		s.refuseBody(w, r)
		s.fail(w, http.StatusBadRequest, "trigger is not a block of this blueprint")
		return
	}
	if s.lib != nil {
		// Unknown and invalid blueprints are refused before they wait.
		if _, err := s.lib.Program(key); err != nil {
			s.refuseBody(w, r)
			if errors.Is(err, blueprints.ErrNotFound) {
				// Not the loader's message: it lists the keys there are.
				s.fail(w, http.StatusNotFound, fmt.Sprintf("no blueprint has the key %q", echo(key)))
				return
			}
			s.runError(w, err, nil)
			return
		}
	}
	if s.opts.Remote != nil {
		s.postRemoteRun(w, r, key, trigger, wait)
		return
	}
	err := s.admit.acquire(r.Context(), queueWait)
	// The answer, whatever it is, is written within WriteTimeout from the
	// end of the wait.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away while it waited
		}
		s.metrics.refusedRun(err)
		s.refuseBody(w, r)
		s.runError(w, err, nil)
		return
	}
	payload, ok := s.readPayload(w, r)
	if !ok {
		s.admit.release()
		return
	}

	rn, sub, err := s.startRun(key, payload, trigger, wait)
	if err != nil {
		var sc *scrub.Scrubber
		if rn != nil {
			sc = rn.sc
		}
		s.runError(w, err, sc)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+rn.id)
	if !wait {
		s.writeJSON(w, http.StatusAccepted, map[string]string{"run": rn.id, "blueprint": rn.blueprint, "status": engine.StatusRunning}, rn.sc)
		return
	}
	// The run belongs to this request: a client that goes away cancels it.
	stop := context.AfterFunc(r.Context(), rn.cancel)
	defer stop()
	s.stream(w, r, rn, sub)
}

// stream answers a run's events as server-sent events, as they happen,
// and ends with an event "result": {"run", "status", "return", "error"}.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, rn *run, sub *subscriber) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	// A stream may last as long as its run: each write, not the whole
	// answer, has a deadline, so that a client that stops reading is let
	// go of (and its run cancelled) after StreamIdle.
	writeBy := func() { _ = rc.SetWriteDeadline(time.Now().Add(s.opts.StreamIdle)) }
	frame := func(kind string, data []byte) error {
		data = s.scrub.Bytes(rn.sc.Bytes(data))
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, data)
		return err
	}
	drain := func() error {
		writeBy()
		evs, dropped := sub.take()
		if dropped > 0 {
			if err := frame("dropped", fmt.Appendf(nil, `{"dropped":%d}`, dropped)); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := frame(e.kind, e.data); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		if err := drain(); err != nil {
			rn.cancel() // the client went away, or stopped reading
			return
		}
		select {
		case <-sub.notify:
		case <-tick.C:
			writeBy()
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				rn.cancel()
				return
			}
			_ = rc.Flush()
		case <-rn.done:
			// Every event was emitted before the runner returned.
			if drain() != nil {
				return
			}
			data, err := marshal(s.runInfo(rn))
			if err != nil {
				data = fmt.Appendf(nil, `{"run":%q,"status":"failed","return":null,"error":"encoding the result"}`, rn.id)
			}
			_ = frame("result", data)
			_ = rc.Flush()
			return
		case <-r.Context().Done():
			return
		}
	}
}

// GET /v1/runs/{id}
func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if rn := s.lookup(id); rn != nil {
		s.writeJSON(w, http.StatusOK, s.runInfo(rn), rn.sc)
		return
	}
	if s.remoteStatus(w, r, id, false) {
		return
	}
	rec, ok := s.fromHistory(r.Context(), w, id)
	if ok {
		in := recordInfo(rec)
		in.Error = s.clean(nil, in.Error)
		s.writeJSON(w, http.StatusOK, in, nil)
	}
}

// GET /v1/runs/{id}/events
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if rn := s.lookup(id); rn != nil {
		rn.mu.Lock()
		evs, dropped := rn.events, rn.dropped
		rn.mu.Unlock()
		var b bytes.Buffer
		b.WriteByte('[')
		for i, e := range evs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(e.data)
		}
		b.WriteByte(']')
		if dropped > 0 {
			w.Header().Set("X-Bp-Dropped-Events", strconv.Itoa(dropped))
		}
		// The run's scrubber again: it may have learnt a secret (mask())
		// after some of these events were recorded.
		s.writeRaw(w, http.StatusOK, b.Bytes(), rn.sc)
		return
	}
	if s.remoteStatus(w, r, id, true) {
		return
	}
	rec, ok := s.fromHistory(r.Context(), w, id)
	if !ok {
		return
	}
	if rec.DroppedEvents > 0 {
		w.Header().Set("X-Bp-Dropped-Events", strconv.Itoa(rec.DroppedEvents))
	}
	evs := rec.Events
	if evs == nil {
		evs = []runner.EventJSON{}
	}
	s.writeJSON(w, http.StatusOK, evs, nil)
}

// fromHistory reads a run this server no longer holds, answering the
// error itself when there is one.
func (s *Server) fromHistory(ctx context.Context, w http.ResponseWriter, id string) (*runner.RunRecord, bool) {
	if s.opts.History == nil {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("run %s not found", echo(id)))
		return nil, false
	}
	rec, err := s.opts.History.Get(ctx, id)
	if err == nil && rec.ID != id {
		// History may take a unique prefix; the API names runs by full id.
		err = runner.ErrRunNotFound
	}
	switch {
	case errors.Is(err, runner.ErrRunNotFound), errors.Is(err, runner.ErrAmbiguousRun):
		s.fail(w, http.StatusNotFound, fmt.Sprintf("run %s not found", echo(id)))
		return nil, false
	case err != nil:
		s.fail(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return rec, true
}
