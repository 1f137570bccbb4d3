//go:build unix

package pyrun

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func runIn(t *testing.T, r *Runner, session, code string) (*Response, *recorder) {
	t.Helper()
	return mustRun(t, r, &Request{Code: code, Session: session})
}

const pidAndMarks = `
import json, os
seen = {"pid": os.getpid(), "global": "mark" in globals(), "module": getattr(json, "bp_mark", None)}
mark = 1
json.bp_mark = json.__dict__.get("bp_mark", 0) + 1
logger.info("block ran")
set_output(seen)`

// TestIsolateRun: a session's blocks run one after another in one process,
// each with fresh globals, and see what earlier ones did to modules;
// sessions never share a process; a crash replaces the process.
func TestIsolateRun(t *testing.T) {
	r, err := New(inTemp(Options{Isolation: IsolateRun}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var pid any
	for i := 1; i <= 3; i++ {
		resp, rec := runIn(t, r, "run-a/bp", pidAndMarks)
		seen := resp.Value.(map[string]any)
		if i == 1 {
			pid = seen["pid"]
		}
		if seen["pid"] != pid || seen["global"] != false || fmt.Sprint(seen["module"]) != fmt.Sprint(map[bool]any{true: nil, false: int64(i - 1)}[i == 1]) {
			t.Fatalf("block %d: %v (first pid %v)", i, seen, pid)
		}
		if rec.text() != "INFO: block ran\n" {
			t.Errorf("block %d output %q", i, rec.text())
		}
	}
	// Another session: another process, modules untouched.
	resp, _ := runIn(t, r, "run-b/bp", pidAndMarks)
	if seen := resp.Value.(map[string]any); seen["pid"] == pid || seen["module"] != nil {
		t.Fatalf("another session shares: %v", seen)
	}
	// A crash ends the process; the session's next block gets a new one.
	if _, _, err := run(t, r, &Request{Code: "import os\nos._exit(3)", Session: "run-a/bp"}); err == nil {
		t.Fatal("a crash went unnoticed")
	}
	resp, _ = runIn(t, r, "run-a/bp", pidAndMarks)
	if seen := resp.Value.(map[string]any); seen["pid"] == pid || seen["module"] != nil {
		t.Fatalf("after a crash: %v", seen)
	}
	// Ended, the session's process goes.
	pid2 := int(resp.Value.(map[string]any)["pid"].(int64))
	r.EndSessions("run-a/")
	waitGone(t, pid2)
}

// TestIsolateRunConcurrent: blocks of a session that run at once get
// processes of their own.
func TestIsolateRunConcurrent(t *testing.T) {
	r, err := New(inTemp(Options{Isolation: IsolateRun}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	pids := make(chan any, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := runIn(t, r, "run-c/bp", "import os, time\ntime.sleep(0.3)\nset_output(os.getpid())")
			pids <- resp.Value
		}()
	}
	wg.Wait()
	close(pids)
	seen := map[any]bool{}
	for p := range pids {
		if seen[p] {
			t.Fatalf("two blocks that ran at once shared process %v", p)
		}
		seen[p] = true
	}
}

// TestIsolateBlockSharesNothing: without IsolateRun a session changes
// nothing: every block has a process of its own.
func TestIsolateBlockSharesNothing(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		a, _ := runIn(t, r, "run-d/bp", pidAndMarks)
		b, _ := runIn(t, r, "run-d/bp", pidAndMarks)
		sa, sb := a.Value.(map[string]any), b.Value.(map[string]any)
		if sa["pid"] == sb["pid"] || sb["module"] != nil || sb["global"] != false {
			t.Fatalf("shared: %v then %v", sa, sb)
		}
	})
}
