package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/server"
)

// waitMetric polls /metrics until a metric has a value.
func (f *fixture) waitMetric(name string, want float64) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metric(f.scrape(), name, nil)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestABurstWaitsInTheQueue: with every slot taken, requests wait for one
// to end instead of bouncing; only a full queue refuses, with 429 and
// Retry-After.
func TestABurstWaitsInTheQueue(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxRuns, o.Queue = 1, 2 })
	g := newGate(t)
	f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202)
	<-g.called
	queued := make(chan answer, 2)
	for i := 0; i < 2; i++ {
		go func() { queued <- f.do("POST", "/v1/blueprints/hello/runs?wait=1", `{"name": "q"}`) }()
	}
	f.waitMetric("bp_runs_queued", 2)
	busy := f.do("POST", "/v1/blueprints/hello/runs", "")
	if busy.status != 429 || busy.header.Get("Retry-After") == "" {
		t.Errorf("with the queue full: %d %v %s", busy.status, busy.header, busy.body)
	}
	g.release()
	for i := 0; i < 2; i++ {
		evs := parseSSE(t, f.expect(<-queued, 200).body)
		if last := evs[len(evs)-1]; last.data["status"] != "returned" {
			t.Errorf("a queued run: %+v", last)
		}
	}
	if n := metric(f.scrape(), "bp_runs_refused_total", map[string]string{"reason": "busy"}); n != 1 {
		t.Errorf("bp_runs_refused_total{busy} = %v, want 1", n)
	}
}

// TestAWaitPastItsDeadlineIs503: a request that asks to wait 50ms gets 503
// with Retry-After once they passed, long before the server's own bound.
func TestAWaitPastItsDeadlineIs503(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxRuns, o.QueueWait = 1, time.Minute })
	g := newGate(t)
	f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202)
	<-g.called
	start := time.Now()
	a := f.do("POST", "/v1/blueprints/hello/runs?queue_wait=50ms", `{"name": "late"}`)
	if a.status != 503 || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "waited too long") {
		t.Errorf("past its deadline: %d %v %s", a.status, a.header, a.body)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("answered after %s: the request's own deadline was not kept", took)
	}
	if n := metric(f.scrape(), "bp_runs_refused_total", map[string]string{"reason": "queue_timeout"}); n != 1 {
		t.Errorf("bp_runs_refused_total{queue_timeout} = %v, want 1", n)
	}
	f.expect(f.do("POST", "/v1/blueprints/hello/runs?queue_wait=soon", ""), 400)
}

// TestAClientThatLeavesTheQueueFreesItsPlace, and shutdown empties the
// queue with 503.
func TestAClientThatLeavesTheQueueFreesItsPlace(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxRuns, o.Queue = 1, 1 })
	g := newGate(t)
	f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202)
	<-g.called
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url+"/v1/blueprints/hello/runs", nil)
	gone := make(chan error, 1)
	go func() {
		_, err := http.DefaultClient.Do(req)
		gone <- err
	}()
	f.waitMetric("bp_runs_queued", 1)
	cancel()
	<-gone
	f.waitMetric("bp_runs_queued", 0)

	// The place is free again; shutdown answers the request waiting in it.
	waiting := make(chan answer, 1)
	go func() { waiting <- f.do("POST", "/v1/blueprints/hello/runs", "") }()
	f.waitMetric("bp_runs_queued", 1)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := f.api.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if a := <-waiting; a.status != 503 || !strings.Contains(a.body, "shutting down") {
		t.Errorf("a queued request at shutdown: %d %s", a.status, a.body)
	}
}

// TestAnAnswerAfterALongWaitIsWritten: the write deadline counts from the
// end of the wait in the queue, so the 503 of a request that waited longer
// than WriteTimeout still reaches its client.
func TestAnAnswerAfterALongWaitIsWritten(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) {
		o.MaxRuns, o.QueueWait, o.WriteTimeout = 1, 300*time.Millisecond, 100*time.Millisecond
	})
	g := newGate(t)
	f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202)
	<-g.called
	req, _ := http.NewRequest("POST", f.url+"/v1/blueprints/hello/runs", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the answer after the wait was not written: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
}
