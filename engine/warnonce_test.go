package engine_test

import (
	"context"
	"testing"

	"github.com/bprun/bp/engine"
)

// warner gives the same run-wide warning from every block.
type warner struct{}

func (warner) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "warner", Outcomes: []string{"success"}}
}

func (warner) Run(ctx context.Context, c *engine.Call) engine.Result {
	c.WarnOnce("the sandbox is missing")
	c.WarnOnce("another matter")
	return engine.Success(nil)
}

// A run-wide warning is in the run log once, however many blocks give it,
// and once in each run.
func TestWarnOncePerRun(t *testing.T) {
	e := newEnv(t)
	e.reg.Register(warner{})
	p := e.compile(t, bp("warn",
		blk("t", "apitrigger", nil, "trigger>a", "trigger>b"),
		blk("a", "warner", nil, "success>c"),
		blk("b", "warner", nil),
		blk("c", "warner", nil),
	))
	for range 2 {
		_, rec := e.run(t, p, engine.RunOptions{})
		got := map[string]int{}
		for _, ev := range rec.events {
			if ev.Kind == engine.RunWarning {
				got[ev.Message]++
				if ev.Block != "" {
					t.Errorf("a run-wide warning names block %q", ev.Block)
				}
			}
		}
		if got["the sandbox is missing"] != 1 || got["another matter"] != 1 || len(got) != 2 {
			t.Errorf("warnings %v", got)
		}
	}
}
