package natsrun_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/internal/natstest"
	"github.com/bprun/bp/natsrun"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

// canary is a vault value with characters that change under encodings.
const canary = `c4n4ry/n4ts+"q"&<x>`

func sealKey(t *testing.T) []byte {
	k, err := vault.GenerateMasterKey().Derive(natsrun.SealPurpose)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func connect(t *testing.T, url string, cfg natsrun.Config) *natsrun.Cluster {
	t.Helper()
	cfg.URL = url
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := natsrun.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestQueueDeduplicatesRunIDs(t *testing.T) {
	node := natstest.Start(t, "")
	c := connect(t, node.URL(), natsrun.Config{})
	q := c.Queue()
	ctx := context.Background()
	for range 3 {
		if err := q.Submit(ctx, &runner.Job{RunID: "dup-1", Blueprint: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Submit(ctx, &runner.Job{RunID: "bad.id", Blueprint: "x"}); err == nil {
		t.Fatal("a run id that is no subject token was queued")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := c.Status(ctx, "dup-1") // written without waiting
		if err == nil && st == natsrun.StatusQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %q, %v", st, err)
		}
	}
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	d, err := q.Next(nctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if d.Job().RunID != "dup-1" || d.Attempt() != 1 {
		t.Fatalf("job %+v attempt %d", d.Job(), d.Attempt())
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	nctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if d, err := q.Next(nctx); err == nil {
		t.Fatalf("a duplicate submission was delivered: %+v", d.Job())
	}
}

func TestHistoryKeepsOneRecordPerRun(t *testing.T) {
	node := natstest.Start(t, "")
	h := connect(t, node.URL(), natsrun.Config{}).History()
	ctx := context.Background()
	now := time.Now().UTC()
	for i, id := range []string{"r-1", "r-2", "r-3"} {
		rec := &runner.RunRecord{ID: id, Blueprint: "b", Status: engine.StatusCompleted, Started: now.Add(time.Duration(i) * time.Second),
			Events: []runner.EventJSON{{Event: "run.started", Run: id}}}
		if err := h.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	err := h.Save(ctx, &runner.RunRecord{ID: "r-1", Status: engine.StatusFailed})
	if !errors.Is(err, runner.ErrRunRecorded) {
		t.Fatalf("a second record of r-1: %v", err)
	}
	rec, err := h.Get(ctx, "r-1")
	if err != nil || rec.Status != engine.StatusCompleted || len(rec.Events) != 1 {
		t.Fatalf("r-1: %+v, %v", rec, err)
	}
	if _, err := h.Get(ctx, "nope"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	list, err := h.List(ctx, 2)
	if err != nil || len(list) != 2 || list[0].ID != "r-3" || list[0].Events != nil {
		t.Fatalf("list %+v, %v", list, err)
	}
	n, err := h.Prune(ctx, runner.Retention{MaxRuns: 1})
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if _, err := h.Get(ctx, "r-1"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Fatalf("r-1 after pruning: %v", err)
	}
}

// Checkpoints are sealed: the store holds no form of a value they carry,
// a checkpoint opens only with the cluster's key and for its own run.
func TestJournalSealsCheckpoints(t *testing.T) {
	node := natstest.Start(t, "")
	key := sealKey(t)
	c := connect(t, node.URL(), natsrun.Config{SealKey: key})
	j := c.Journal()
	ctx := context.Background()
	cp := &engine.Checkpoint{Seq: 1, Block: "login", Outcome: "success", Status: engine.StatusSucceeded,
		Result: map[string]any{"token": canary, "n": 3.0}, State: map[string]any{"tok": canary}, Masked: []string{canary}}
	if err := j.Record(ctx, "run-s", cp); err != nil {
		t.Fatal(err)
	}
	got, err := j.Load(ctx, "run-s")
	if err != nil || len(got) != 1 {
		t.Fatalf("load: %v, %v", got, err)
	}
	if r := got[0].Result.(map[string]any); r["token"] != canary || r["n"] != 3.0 || got[0].Masked[0] != canary {
		t.Fatalf("checkpoint came back as %+v", got[0])
	}
	if none, err := j.Load(ctx, "run-none"); err != nil || len(none) != 0 {
		t.Fatalf("a run without checkpoints: %v, %v", none, err)
	}
	other := connect(t, node.URL(), natsrun.Config{SealKey: sealKey(t)})
	if _, err := other.Journal().Load(ctx, "run-s"); err == nil {
		t.Fatal("a checkpoint opened under another key")
	}
	scanForCanary(t, node.Dir())
	if connect(t, node.URL(), natsrun.Config{}).Journal() != nil {
		t.Fatal("a cluster without a seal key has a journal: checkpoints would be in clear")
	}
}

// scanForCanary reads every file under dir raw.
func scanForCanary(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if f, ok := leaktest.Find(string(b), canary); ok {
			t.Errorf("%s holds the canary (as %q)", path, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no file under %s: the scan proves nothing", dir)
	}
}

// target is a loopback API that counts calls by path; /slow holds its
// first call until released.
type target struct {
	mu      sync.Mutex
	calls   map[string]int
	entered chan struct{}
	release chan struct{}
}

func newTarget(t *testing.T) (*target, *httptest.Server) {
	tg := &target{calls: map[string]int{}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.calls[r.URL.Path]++
		n := tg.calls[r.URL.Path]
		tg.mu.Unlock()
		if r.URL.Path == "/slow" && n == 1 {
			tg.entered <- struct{}{}
			select {
			case <-tg.release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "n": %d, "key": %q}`, r.URL.Path, n, r.Header.Get("Idempotency-Key"))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-tg.release:
		default:
			close(tg.release)
		}
	})
	return tg, srv
}

func (tg *target) count(path string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.calls[path]
}

func newRunner(t *testing.T, url string, hist runner.HistoryStore) *runner.Runner {
	dir := t.TempDir()
	bp := `
vault: [TOKEN]
blocks:
  start: {type: apitrigger, outs: {trigger: first}}
  first: {type: httprequest, fields: {url: "` + url + `/first", headers: {Authorization: "Bearer @{vault.TOKEN}"}}, outs: {success: keep}}
  keep: {type: setstate, fields: {element: seen, value: "@{vault.TOKEN}"}, outs: {success: second}}
  second: {type: httprequest, fields: {url: "` + url + `/slow"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: {first: "@{results.first.body}", token: "@{state.seen}"}}}
`
	if err := os.WriteFile(filepath.Join(dir, "two.bp.yaml"), []byte(bp), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := blueprints.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return runner.New(runner.Options{
		Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})),
		Secrets: runner.StaticSecrets{"TOKEN": canary}, History: hist,
	})
}

func waitRecord(t *testing.T, h runner.HistoryStore, id string) *runner.RunRecord {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rec, err := h.Get(context.Background(), id); err == nil {
			return rec
		}
	}
	t.Fatalf("run %s was never recorded", id)
	return nil
}

// A worker that dies mid-run (its connection gone, no ack, no more
// heartbeats) leaves the run to another, which resumes it after the last
// checkpointed block and records it once; the store holds no secret.
func TestDeadWorkersRunFinishesElsewhere(t *testing.T) {
	node := natstest.Start(t, "")
	key := sealKey(t)
	cfg := natsrun.Config{SealKey: key, AckWait: time.Second}
	tg, srv := newTarget(t)

	a := connect(t, node.URL(), cfg)
	actx, stopA := context.WithCancel(context.Background())
	defer stopA()
	workerA := &runner.Worker{Runner: newRunner(t, srv.URL, a.History()), Queue: a.Queue(), Journal: a.Journal(), Relay: a.Relay(), Heartbeat: 200 * time.Millisecond}
	doneA := make(chan struct{})
	go func() { _ = workerA.Run(actx); close(doneA) }()

	api := connect(t, node.URL(), cfg)
	var mu sync.Mutex
	var events []runner.EventJSON
	stopFollow, err := api.Follow(context.Background(), "run-dead", func(e runner.EventJSON) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopFollow()
	if err := api.Queue().Submit(context.Background(), &runner.Job{RunID: "run-dead", Blueprint: "two"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tg.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the run never reached its second block")
	}
	// Worker A dies: its connection goes, it can neither ack nor beat.
	a.Conn().Close()
	killed := time.Now()

	b := connect(t, node.URL(), cfg)
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	workerB := &runner.Worker{Runner: newRunner(t, srv.URL, b.History()), Queue: b.Queue(), Journal: b.Journal(), Relay: b.Relay(), Heartbeat: 200 * time.Millisecond}
	doneB := make(chan struct{})
	go func() { _ = workerB.Run(bctx); close(doneB) }()

	rec := waitRecord(t, api.History(), "run-dead")
	t.Logf("failover: recorded %v after the kill", time.Since(killed).Round(time.Millisecond))
	if rec.Status != engine.StatusReturned {
		t.Fatalf("resumed run %s: %s", rec.Status, rec.Error)
	}
	if n := tg.count("/first"); n != 1 {
		t.Errorf("the checkpointed block ran %d times, want 1", n)
	}
	if n := tg.count("/slow"); n != 2 {
		t.Errorf("the block in flight ran %d times, want 2", n)
	}
	ret, _ := rec.Return.(map[string]any)
	first, _ := ret["first"].(map[string]any)
	if first["n"] != 1.0 || first["key"] != "run-dead/first" || ret["token"] != "***" {
		t.Errorf("return %#v: want the first call's body, its idempotency key, the state restored and masked", rec.Return)
	}
	// Worker A comes back to life and finishes its copy: its record is
	// refused, the first one stands.
	close(tg.release)
	stopA()
	<-doneA
	stopB()
	<-doneB
	again, err := api.History().Get(context.Background(), "run-dead")
	if err != nil || again.Status != rec.Status {
		t.Fatalf("the record changed: %+v, %v", again, err)
	}
	mu.Lock()
	sawEnd := false
	for _, e := range events {
		if e.Event == string(engine.RunFinished) && e.Scope == "" && e.Status == engine.StatusReturned {
			sawEnd = true
		}
	}
	mu.Unlock()
	if !sawEnd {
		t.Error("the follower never saw the run finish")
	}
	scanForCanary(t, node.Dir())
}

// On a 3-node cluster with every stream replicated three times, runs go
// on when the queue stream's leader shuts down.
func TestClusterSurvivesItsStreamLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster takes seconds to elect its leaders")
	}
	cl := natstest.StartCluster(t)
	tg, srv := newTarget(t)
	close(tg.release)
	cfg := natsrun.Config{SealKey: sealKey(t), Replicas: 3, AckWait: 2 * time.Second}
	c := connect(t, cl.URL(), cfg)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	w := &runner.Worker{Runner: newRunner(t, srv.URL, c.History()), Queue: c.Queue(), Journal: c.Journal(), Heartbeat: 500 * time.Millisecond}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	submit := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Queue().Submit(sctx, &runner.Job{RunID: id, Blueprint: "two"})
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("submitting %s: %v", id, err)
			}
		}
	}
	submit("c-1")
	waitRecord(t, c.History(), "c-1")
	leader := cl.StreamLeader("BP_RUNS")
	if leader == nil {
		t.Fatal("BP_RUNS has no leader")
	}
	leader.Stop()
	submit("c-2") // retried until a new leader is elected
	rec := waitRecord(t, c.History(), "c-2")
	if rec.Status != engine.StatusReturned {
		t.Fatalf("c-2 %s: %s", rec.Status, rec.Error)
	}
	stop()
	<-done
}
