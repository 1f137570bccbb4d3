package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/server"
)

// heldStore is the fixture's history with Save held until the test lets
// it go.
type heldStore struct {
	runner.HistoryStore
	called chan struct{}
	free   chan struct{}
}

func (h *heldStore) Save(ctx context.Context, rec *runner.RunRecord) error {
	h.called <- struct{}{}
	<-h.free
	return h.HistoryStore.Save(ctx, rec)
}

// TestARunEndsOnlyOnceRecorded holds the history write of a run: until
// it is done, the run is not reported finished anywhere; once the answer
// says it ended, history has it.
func TestARunEndsOnlyOnceRecorded(t *testing.T) {
	held := &heldStore{called: make(chan struct{}, 1), free: make(chan struct{})}
	f := newFixture(t, basicFiles(), func(o *server.Options) {
		held.HistoryStore = o.History
		o.History = held
	})
	id := f.expect(f.do("POST", "/v1/blueprints/hello/runs", `{"name": "Oslo"}`), 202).json(t)["run"].(string)
	<-held.called
	// The run is over but not yet recorded.
	if m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); m["status"] != "running" {
		t.Errorf("status before the record is saved: %v", m["status"])
	}
	for _, e := range f.events(id) {
		if e["event"] == "run.finished" {
			t.Errorf("run.finished is shown before the record is saved")
		}
	}
	close(held.free)
	if m := f.waitRun(id); m["status"] != "returned" || m["history_error"] != nil {
		t.Fatalf("run: %v", m)
	}
	// Reported finished: history has it.
	rec, err := f.history.Get(context.Background(), id)
	if err != nil || rec.Status != "returned" {
		t.Fatalf("history after the answer: %+v, %v", rec, err)
	}

	// A stream ends with run.finished, then the result.
	evs := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
	if n := len(evs); n < 2 || evs[n-2].kind != "run.finished" || evs[n-1].kind != "result" || evs[n-1].data["history_error"] != nil {
		t.Errorf("stream: %+v", evs)
	}
}

// fullDisk is the fixture's history on a full disk: reads work, saves
// fail.
type fullDisk struct{ runner.HistoryStore }

func (fullDisk) Save(ctx context.Context, rec *runner.RunRecord) error {
	return errors.New("no space left on device")
}

// TestALostRecordIsReported: every answer about a run that could not be
// recorded says so, and so does the server log.
func TestALostRecordIsReported(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.History = fullDisk{o.History} })
	evs := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
	last := evs[len(evs)-1].data
	msg, _ := last["history_error"].(string)
	if last["status"] != "returned" || !strings.Contains(msg, "no space left on device") {
		t.Fatalf("the result does not say the run is not recorded: %v", last)
	}
	id := last["run"].(string)
	// Not in history, so kept in memory: its answer says it too.
	if m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); m["history_error"] != msg {
		t.Errorf("GET /v1/runs/%s: %v", id, m)
	}
	async := f.expect(f.do("POST", "/v1/blueprints/hello/runs", ""), 202).json(t)["run"].(string)
	if m := f.waitRun(async); m["history_error"] == nil {
		t.Errorf("the run started without wait does not say it is not recorded: %v", m)
	}
	if log := f.log.String(); !strings.Contains(log, id) || !strings.Contains(log, "no space left on device") {
		t.Errorf("the server log does not report the lost record:\n%s", log)
	}
}

func TestRetentionPrunesInTheBackground(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) {
		o.Retention = runner.Retention{MaxRuns: 2}
		o.PruneEvery = 5 * time.Millisecond
	})
	var last string
	for i := 0; i < 5; i++ {
		evs := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
		last = evs[len(evs)-1].data["run"].(string)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := f.history.List(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 && list[0].ID == last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("history holds %d runs, want the 2 newest", len(list))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
