package runner_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/runner"
)

func openHistory(t *testing.T, path string) *runner.BoltHistory {
	t.Helper()
	h, err := runner.OpenBoltHistory(path, runner.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func record(id string, started time.Time, reads ...string) *runner.RunRecord {
	rec := &runner.RunRecord{ID: id, Blueprint: "bp", Status: "returned", Started: started.UTC(), Return: id, HasReturn: true,
		Events: []runner.EventJSON{{Run: id, Event: "run.finished", Status: "returned"}}}
	for _, s := range reads {
		rec.SecretReads = append(rec.SecretReads, runner.AuditRecord{Secret: s, Run: id, Blueprint: "bp", Block: "b", Time: started})
	}
	return rec
}

func TestHistorySaveGetList(t *testing.T) {
	ctx := context.Background()
	h := openHistory(t, filepath.Join(t.TempDir(), "h", "history.db"))
	t0 := time.Now()
	for i, id := range []string{"aa11", "aa22", "bb33"} {
		if err := h.Save(ctx, record(id, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := h.Get(ctx, "bb")
	if err != nil || rec.ID != "bb33" || rec.Return != "bb33" || len(rec.Events) != 1 {
		t.Fatalf("Get by unique prefix: %+v, %v", rec, err)
	}
	if _, err := h.Get(ctx, "aa"); !errors.Is(err, runner.ErrAmbiguousRun) {
		t.Errorf("Get of a shared prefix: %v, want ErrAmbiguousRun", err)
	}
	if rec, err := h.Get(ctx, "aa11"); err != nil || rec.ID != "aa11" {
		t.Errorf("Get by full id: %+v, %v", rec, err)
	}
	if _, err := h.Get(ctx, "cc"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrRunNotFound", err)
	}
	list, err := h.List(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "bb33" || list[1].ID != "aa22" || list[0].Events != nil {
		t.Errorf("List(2) = %+v, want bb33 then aa22 without events", list)
	}
	if all, _ := h.List(ctx, 0); len(all) != 3 {
		t.Errorf("List(0) has %d runs, want 3", len(all))
	}
	// Saved again (a retried save), a run still has one record.
	again := record("aa11", t0.Add(time.Hour))
	if err := h.Save(ctx, again); err != nil {
		t.Fatal(err)
	}
	if all, _ := h.List(ctx, 0); len(all) != 3 || all[0].ID != "aa11" {
		t.Errorf("after saving aa11 again: %+v", all)
	}
}

// TestHistoryConcurrentSavesAreAllDurable saves from many goroutines at
// once, as a busy server's runs do, and reads them back from the file
// after it is closed: every Save that returned nil is there.
func TestHistoryConcurrentSavesAreAllDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	h, err := runner.OpenBoltHistory(path, runner.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.Save(context.Background(), record(fmt.Sprintf("run-%03d", i), t0.Add(time.Duration(i)), "S"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(context.Background(), record("late", t0)); !errors.Is(err, runner.ErrHistoryClosed) {
		t.Errorf("Save after Close: %v, want ErrHistoryClosed", err)
	}

	ro, err := runner.OpenBoltHistory(path, runner.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	list, err := ro.List(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range list {
		seen[r.ID] = true
	}
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("run-%03d", i); !seen[id] {
			t.Errorf("run %s was saved but is not in the file", id)
		}
	}
	audit, err := ro.Audit("S")
	if err != nil || len(audit) != n {
		t.Errorf("audit holds %d reads of S (%v), want %d", len(audit), err, n)
	}
	if err := ro.Save(context.Background(), record("x", t0)); !errors.Is(err, runner.ErrHistoryReadOnly) {
		t.Errorf("Save to a read-only store: %v, want ErrHistoryReadOnly", err)
	}
}

func TestHistoryHeldByAnotherOpenSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	openHistory(t, path)
	_, err := runner.OpenBoltHistory(path, runner.BoltOptions{LockTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "another bp process holds it") {
		t.Fatalf("second open: %v, want it to say another process holds the file", err)
	}
}

func TestHistoryReadOnlyOfAMissingFileIsEmpty(t *testing.T) {
	h, err := runner.OpenBoltHistory(filepath.Join(t.TempDir(), "none.db"), runner.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if list, err := h.List(context.Background(), 0); err != nil || len(list) != 0 {
		t.Errorf("List = %v, %v", list, err)
	}
	if _, err := h.Get(context.Background(), "x"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Errorf("Get = %v, want ErrRunNotFound", err)
	}
}

func TestHistoryPrune(t *testing.T) {
	ctx := context.Background()
	h := openHistory(t, filepath.Join(t.TempDir(), "history.db"))
	now := time.Now()
	// run-0 is ten hours old, run-9 one hour.
	for i := 0; i < 10; i++ {
		if err := h.Save(ctx, record(fmt.Sprintf("run-%d", i), now.Add(-time.Duration(10-i)*time.Hour), "S")); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.Prune(ctx, runner.Retention{MaxRuns: 7})
	if err != nil || n != 3 {
		t.Fatalf("Prune(MaxRuns 7) = %d, %v; want 3", n, err)
	}
	n, err = h.Prune(ctx, runner.Retention{MaxAge: 150 * time.Minute})
	if err != nil || n != 5 {
		t.Fatalf("Prune(MaxAge 2h30) = %d, %v; want 5", n, err)
	}
	list, _ := h.List(ctx, 0)
	if len(list) != 2 || list[0].ID != "run-9" || list[1].ID != "run-8" {
		t.Errorf("left: %+v, want run-9 and run-8", list)
	}
	if _, err := h.Get(ctx, "run-0"); !errors.Is(err, runner.ErrRunNotFound) {
		t.Errorf("a pruned run is still found by id: %v", err)
	}
	audit, _ := h.Audit("S")
	if len(audit) != 2 {
		t.Errorf("audit keeps %d reads, want the 2 of the runs kept: %+v", len(audit), audit)
	}
	if n, err := h.Prune(ctx, runner.Retention{}); n != 0 || err != nil {
		t.Errorf("a zero retention pruned %d (%v)", n, err)
	}
}

// TestPruneEvery prunes in the background until its context ends.
func TestPruneEvery(t *testing.T) {
	ctx := context.Background()
	h := openHistory(t, filepath.Join(t.TempDir(), "history.db"))
	for i := 0; i < 5; i++ {
		if err := h.Save(ctx, record(fmt.Sprintf("run-%d", i), time.Now().Add(time.Duration(i)))); err != nil {
			t.Fatal(err)
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	reports := make(chan int, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.PruneEvery(pctx, h, runner.Retention{MaxRuns: 2}, time.Millisecond, func(n int, err error) {
			if err != nil {
				t.Error(err)
			}
			reports <- n
		})
	}()
	if n := <-reports; n != 3 {
		t.Errorf("first pass forgot %d runs, want 3", n)
	}
	cancel()
	<-done
	if list, _ := h.List(ctx, 0); len(list) != 2 {
		t.Errorf("%d runs left, want 2", len(list))
	}
}
