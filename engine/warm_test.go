package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/engine"
)

// warmed is a block type that must be warmed before its blocks can run
// (as an interpreter must start): Run waits for Warm.
type warmed struct {
	calls atomic.Int32
	ready chan struct{}
}

func (w *warmed) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "warmed", Outcomes: []string{"success", "error"}}
}

func (w *warmed) Warm(ctx context.Context, bp *engine.Blueprint) {
	if w.calls.Add(1) == 1 {
		close(w.ready)
	}
}

func (w *warmed) Run(ctx context.Context, c *engine.Call) engine.Result {
	select {
	case <-w.ready:
		return engine.Success(nil)
	case <-time.After(10 * time.Second):
		return engine.Failure(errors.New("never warmed"))
	}
}

// A run warms each Warmer type its blueprint uses, once, as it starts.
func TestRunWarmsBlockTypes(t *testing.T) {
	e := newEnv(t)
	w := &warmed{ready: make(chan struct{})}
	e.reg.Register(w)
	p := e.compile(t, bp("warm",
		blk("t", "apitrigger", nil, "trigger>s"),
		blk("s", "sleep", f{"for": "10ms"}, "success>a", "success>b"),
		blk("a", "warmed", nil, "success>j"),
		blk("b", "warmed", nil, "success>j"),
		blk("j", "noop", nil),
	))
	for i := 1; i <= 2; i++ {
		res, _ := e.run(t, p, engine.RunOptions{})
		if res.Status != engine.StatusCompleted {
			t.Fatalf("run %d: %s %v", i, res.Status, res.Err)
		}
		// Warm runs beside the run: the second run's may still be going.
		deadline := time.Now().Add(5 * time.Second)
		for w.calls.Load() < int32(i) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // room for a wrong second call
		if n := w.calls.Load(); n != int32(i) {
			t.Fatalf("after run %d: Warm called %d times, want once per run", i, n)
		}
	}
}
