package runner_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// target is a loopback API that counts calls by path; /slow holds its
// first call until the caller goes away.
type target struct {
	mu      sync.Mutex
	calls   map[string]int
	entered chan struct{}
}

func newTarget(t *testing.T) (*target, *httptest.Server) {
	tg := &target{calls: map[string]int{}, entered: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.calls[r.URL.Path]++
		n := tg.calls[r.URL.Path]
		tg.mu.Unlock()
		if r.URL.Path == "/slow" && n == 1 {
			tg.entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "n": %d}`, r.URL.Path, n)
	}))
	t.Cleanup(srv.Close)
	return tg, srv
}

func (tg *target) count(path string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.calls[path]
}

func workerSetup(t *testing.T, url string) (*runner.Runner, *runner.BoltHistory) {
	set := load(t, map[string]string{"two.bp.yaml": `
blocks:
  start: {type: apitrigger, outs: {trigger: first}}
  first: {type: httprequest, fields: {url: "` + url + `/first"}, outs: {success: second}}
  second: {type: httprequest, fields: {url: "` + url + `/slow"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{results.first.body}"}}
`})
	hist, err := runner.OpenBoltHistory(filepath.Join(t.TempDir(), "history.db"), runner.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hist.Close() })
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), History: hist})
	return r, hist
}

// A worker that stops mid-run gives the run back unrecorded; the next
// worker resumes it after its last finished block, and records it once.
func TestWorkerHandsOffAndAnotherResumes(t *testing.T) {
	tg, srv := newTarget(t)
	r, hist := workerSetup(t, srv.URL)
	q := &runner.MemoryQueue{}
	j := &runner.MemoryJournal{}
	ctx := context.Background()
	if err := q.Submit(ctx, &runner.Job{RunID: "run-a", Blueprint: "two"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Submit(ctx, &runner.Job{RunID: "run-a", Blueprint: "two"}); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Fatalf("a submission retried with the same run id queued %d runs", q.Len())
	}

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- (&runner.Worker{Runner: r, Queue: q, Journal: j}).Run(wctx) }()
	select {
	case <-tg.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the run never reached its second block")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("worker ended with %v", err)
	}
	if _, err := hist.Get(ctx, "run-a"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Fatalf("a run handed off was recorded (%v)", err)
	}
	if q.Len() != 1 {
		t.Fatalf("the run was not given back: %d queued", q.Len())
	}

	wctx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- (&runner.Worker{Runner: r, Queue: q, Journal: j}).Run(wctx) }()
	var rec *runner.RunRecord
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err := hist.Get(ctx, "run-a"); err == nil {
			rec = got
			break
		}
	}
	stop()
	<-done
	if rec == nil {
		t.Fatal("the resumed run was never recorded")
	}
	if rec.Status != engine.StatusReturned {
		t.Fatalf("resumed run %s: %s", rec.Status, rec.Error)
	}
	if n := tg.count("/first"); n != 1 {
		t.Errorf("the checkpointed block ran %d times, want 1", n)
	}
	if n := tg.count("/slow"); n != 2 {
		t.Errorf("the block in flight ran %d times, want 2", n)
	}
	finished := 0
	for _, e := range rec.Events {
		if e.Event == string(engine.BlockFinished) && e.Block == "first" {
			finished++
		}
	}
	if finished != 1 {
		t.Errorf("the record has %d block.finished of first, want 1 (replayed)", finished)
	}
	if body, ok := rec.Return.(map[string]any); !ok || body["n"] != 1.0 {
		t.Errorf("return %#v, want the first call's body", rec.Return)
	}
	if j.Len() != 0 {
		t.Error("the recorded run's checkpoints were not forgotten")
	}
}

// A run delivered more often than MaxAttempts is recorded as failed
// instead of being run again.
func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	_, srv := newTarget(t)
	r, hist := workerSetup(t, srv.URL)
	q := &runner.MemoryQueue{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := q.Submit(ctx, &runner.Job{RunID: "run-b", Blueprint: "two"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Nak(ctx, 0) // as if a worker had died with it
	done := make(chan error, 1)
	go func() { done <- (&runner.Worker{Runner: r, Queue: q, MaxAttempts: 1}).Run(ctx) }()
	var rec *runner.RunRecord
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err := hist.Get(ctx, "run-b"); err == nil {
			rec = got
			break
		}
	}
	stop()
	<-done
	if rec == nil || rec.Status != engine.StatusFailed || rec.Error == "" {
		t.Fatalf("record %+v, want failed with why", rec)
	}
}

// A run that can be resumed sends each HTTP block's idempotency key, the
// same on every attempt; idempotencyKey: false and the block's own header
// win; a run without a journal sends none.
func TestWorkerRunsSendIdempotencyKeys(t *testing.T) {
	keys := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.URL.Path + "=" + r.Header.Get("Idempotency-Key")
	}))
	defer srv.Close()
	set := load(t, map[string]string{"keys.bp.yaml": `
blocks:
  start: {type: apitrigger, outs: {trigger: a}}
  a: {type: httprequest, fields: {url: "` + srv.URL + `/a"}, outs: {success: b}}
  b: {type: httprequest, fields: {url: "` + srv.URL + `/b", idempotencyKey: false}, outs: {success: c}}
  c: {type: httprequest, fields: {url: "` + srv.URL + `/c", headers: {Idempotency-Key: mine}}}
`})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{}))})
	for _, j := range []engine.Journal{&runner.MemoryJournal{}, nil} {
		res, err := r.Run(context.Background(), runner.Request{Blueprint: "keys", RunID: "run-k", Journal: j})
		if err != nil || res.Status != engine.StatusCompleted {
			t.Fatalf("%v %+v", err, res)
		}
		got := []string{<-keys, <-keys, <-keys}
		want := []string{"/a=run-k/a", "/b=", "/c=mine"}
		if j == nil {
			want[0] = "/a="
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("journal %v: sent %q, want %q", j != nil, got, want)
		}
	}
}

// A redelivered run is skipped only when the run itself is recorded, not
// another whose id it prefixes (history takes unique prefixes).
func TestWorkerRunsARedeliveryWhoseIDPrefixesAnother(t *testing.T) {
	tg, srv := newTarget(t)
	tg.mu.Lock()
	tg.calls["/slow"] = 1 // answer at once
	tg.mu.Unlock()
	r, hist := workerSetup(t, srv.URL)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := hist.Save(ctx, &runner.RunRecord{ID: "run-p0", Blueprint: "two", Status: engine.StatusCompleted, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	q := &runner.MemoryQueue{}
	if err := q.Submit(ctx, &runner.Job{RunID: "run-p", Blueprint: "two"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Nak(ctx, 0) // a second delivery, which looks for a record first
	done := make(chan error, 1)
	go func() { done <- (&runner.Worker{Runner: r, Queue: q}).Run(ctx) }()
	var rec *runner.RunRecord
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err := hist.Get(ctx, "run-p"); err == nil && got.ID == "run-p" {
			rec = got
			break
		}
	}
	stop()
	<-done
	if rec == nil || rec.Status != engine.StatusReturned {
		t.Fatalf("run-p was not run: %+v", rec)
	}
}
