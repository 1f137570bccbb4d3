package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/engine"
)

func TestSchedulerTable(t *testing.T) {
	tests := []struct {
		name       string
		blocks     []*engine.BlockSpec
		payload    any
		status     string
		ret        any
		errHas     []string
		want       map[string]string // block -> status
		runsOfJoin int               // how many times block "j" starts, when set
	}{
		{
			name: "join runs when one incoming edge is taken",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>if"),
				blk("if", "ifelse", f{"expression": "1 > 0"}, "true>a", "false>b"),
				blk("a", "noop", nil, "success>j"),
				blk("b", "noop", nil, "success>j"),
				blk("j", "noop", nil),
			},
			status: engine.StatusCompleted,
			want:   map[string]string{"a": "succeeded", "b": "skipped", "j": "succeeded"},
		},
		{
			name: "join whose edges are all untaken is skipped, and so is what follows",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>if"),
				blk("if", "ifelse", f{"expression": "false"}, "true>a", "false>c"),
				blk("a", "noop", nil, "success>j"),
				blk("c", "noop", nil, "error>j"),
				blk("j", "noop", nil, "success>k"),
				blk("k", "noop", nil),
			},
			status: engine.StatusCompleted,
			want:   map[string]string{"a": "skipped", "c": "succeeded", "j": "skipped", "k": "skipped"},
		},
		{
			name: "two edges from one block into one target run it once",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>s"),
				blk("s", "setstate", f{"element": "x", "value": "1"}, "success>j", "success>j"),
				blk("j", "returnvalue", f{"value": "@{x}"}),
			},
			status:     engine.StatusReturned,
			ret:        "1",
			runsOfJoin: 1,
		},
		{
			name: "routed error is handled and the run goes on",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>x"),
				blk("x", "fail", f{"message": "disk full"}, "error>h"),
				blk("h", "returnvalue", f{"value": "handled: @{message}"}),
			},
			status: engine.StatusReturned,
			ret:    "handled: disk full",
			want:   map[string]string{"x": "failed", "h": "succeeded"},
		},
		{
			name: "unrouted error fails the run naming block, type and cause",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>x"),
				blk("x", "fail", f{"message": "disk full"}, "success>after"),
				blk("after", "noop", nil),
			},
			status: engine.StatusFailed,
			errHas: []string{"block x", "(fail)", "disk full"},
		},
		{
			name: "return ends the run and cancels blocks in flight",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>slow", "trigger>r"),
				blk("slow", "sleep", f{"for": "10s"}, "success>never"),
				blk("never", "noop", nil),
				blk("r", "returnvalue", f{"value": "@{payload}"}),
			},
			payload: map[string]any{"a": 1.0},
			status:  engine.StatusReturned,
			ret:     map[string]any{"a": 1.0},
			want:    map[string]string{"slow": "cancelled", "r": "succeeded"},
		},
		{
			name: "a panic becomes the block's error",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>p"),
				blk("p", "panic", nil, "error>h"),
				blk("h", "returnvalue", f{"value": "@{message}"}),
			},
			status: engine.StatusReturned,
			ret:    "panic in block p (panic): boom",
		},
		{
			name: "block timeout is the block's error",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", nil, "trigger>s"),
				blk("s", "sleep", f{"for": "10s", "timeout": "50ms"}),
			},
			status: engine.StatusFailed,
			errHas: []string{"block s", "timed out after 50ms"},
		},
		{
			name: "without triggers the run starts at blocks with no incoming edge",
			blocks: []*engine.BlockSpec{
				blk("a", "setstate", f{"element": "n", "value": "@{1 + 1}"}, "success>b"),
				blk("b", "returnvalue", f{"value": "@{n * 10}"}),
			},
			status: engine.StatusReturned,
			ret:    20.0,
		},
		{
			name: "trigger result is the payload, else the default parsed as JSON",
			blocks: []*engine.BlockSpec{
				blk("t", "apitrigger", f{"defaultResult": `{"city": "Paris"}`}, "trigger>r"),
				blk("r", "returnvalue", f{"value": "@{result.city}"}),
			},
			status: engine.StatusReturned,
			ret:    "Paris",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			p := env.compile(t, bp("t", tc.blocks...))
			res, rec := env.run(t, p, engine.RunOptions{Payload: tc.payload})
			if res.Status != tc.status {
				t.Fatalf("status %s, want %s (err %v)", res.Status, tc.status, res.Err)
			}
			if tc.ret != nil && !reflect.DeepEqual(res.Return, tc.ret) {
				t.Errorf("return %#v, want %#v", res.Return, tc.ret)
			}
			for _, s := range tc.errHas {
				if res.Err == nil || !strings.Contains(res.Err.Error(), s) {
					t.Errorf("error %v does not say %q", res.Err, s)
				}
			}
			got := rec.statuses()
			for id, st := range tc.want {
				if got[id] != st {
					t.Errorf("block %s: status %q, want %q (all: %v)", id, got[id], st, got)
				}
			}
			if tc.runsOfJoin > 0 {
				if n := rec.count(engine.BlockStarted, "j"); n != tc.runsOfJoin {
					t.Errorf("j started %d times, want %d", n, tc.runsOfJoin)
				}
			}
			if k := rec.events[len(rec.events)-1].Kind; k != engine.RunFinished {
				t.Errorf("last event %s, want run.finished", k)
			}
		})
	}
}

func TestCycleIsValidationErrorNamingBlocks(t *testing.T) {
	env := newEnv(t)
	_, err := engine.Compile(bp("c",
		blk("t", "apitrigger", nil, "trigger>a"),
		blk("a", "noop", nil, "success>b"),
		blk("b", "noop", nil, "success>c"),
		blk("c", "noop", nil, "success>a"),
	), env.reg)
	var ve *engine.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v, want a ValidationError", err)
	}
	if !strings.Contains(err.Error(), "cycle: a -> b -> c -> a") {
		t.Errorf("error %q does not name the cycle", err)
	}
}

func TestForeachResultsInInputOrder(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("loop",
		blk("t", "apitrigger", nil, "trigger>each"),
		blk("each", "foreach", f{"items": "@{payload}", "parallel": 4}, "loop>wait", "success>done"),
		blk("wait", "sleep", f{"for": "@{item.ms / 1000}", "value": "@{item.v}"}, "success>ret"),
		blk("ret", "returnvalue", f{"value": "@{itemId}:@{result}"}),
		blk("done", "returnvalue", f{"value": "@{result}"}),
	))
	items := []any{}
	for i, ms := range []float64{40, 5, 25, 1, 15, 30} {
		items = append(items, map[string]any{"ms": ms, "v": fmt.Sprint("v", i)})
	}
	res, _ := env.run(t, p, engine.RunOptions{Payload: items})
	if res.Status != engine.StatusReturned {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	want := []any{"0:v0", "1:v1", "2:v2", "3:v3", "4:v4", "5:v5"}
	if !reflect.DeepEqual(res.Return, want) {
		t.Errorf("return %v, want %v", res.Return, want)
	}
	if m := env.sleep.max.Load(); m < 2 || m > 4 {
		t.Errorf("at most %d iterations ran at once, want 2..4", m)
	}
}

func TestForeachObjectAndPrefixedNestedLoops(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("nested",
		blk("t", "apitrigger", nil, "trigger>outer"),
		blk("outer", "foreach", f{"items": `{"a": [1, 2], "b": [3]}`, "prefix": "row"}, "loop>inner", "success>done"),
		blk("inner", "foreach", f{"items": "@{item}"}, "loop>cell", "success>rowdone"),
		blk("cell", "returnvalue", f{"value": "@{row_itemId}@{item}"}),
		blk("rowdone", "returnvalue", f{"value": "@{result}"}),
		blk("done", "returnvalue", f{"value": "@{result}"}),
	))
	res, _ := env.run(t, p, engine.RunOptions{})
	want := map[string]any{"a": []any{"a1", "a2"}, "b": []any{"b3"}}
	if res.Status != engine.StatusReturned || !reflect.DeepEqual(res.Return, want) {
		t.Fatalf("status %s return %#v err %v; want %v", res.Status, res.Return, res.Err, want)
	}
}

func TestRunBlueprintDepthLimit(t *testing.T) {
	env := newEnv(t)
	env.compile(t, bp("self",
		blk("t", "apitrigger", nil, "trigger>call"),
		blk("call", "runblueprint", f{"blueprintKey": "self", "payload": "@{payload + 1}"}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{result}"}),
	))
	res, _ := env.run(t, env.lib["self"], engine.RunOptions{Payload: 0.0})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "nested deeper than 32") {
		t.Fatalf("status %s err %v; want depth error", res.Status, res.Err)
	}
	// Said once, not once per level.
	if n := strings.Count(res.Err.Error(), "runblueprint"); n > 2 {
		t.Fatalf("the error repeats itself (%d times): %v", n, res.Err)
	}
}

func TestRunBlueprintReturnsCalleeValue(t *testing.T) {
	env := newEnv(t)
	env.compile(t, bp("repeat", blk("r", "returnvalue", f{"value": "@{payload}"})))
	p := env.compile(t, bp("caller",
		blk("call", "runblueprint", f{"blueprintKey": "repeat", "payload": "blue"}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{result}"}),
	))
	res, _ := env.run(t, p, engine.RunOptions{})
	if res.Return != "blue" {
		t.Fatalf("return %#v (%s, %v), want blue", res.Return, res.Status, res.Err)
	}
}

// A JSON payload keeps its shape whatever the inserted text holds; text
// stays text.
func TestRunBlueprintPayloadJSONOrText(t *testing.T) {
	env := newEnv(t)
	env.compile(t, bp("repeat", blk("r", "returnvalue", f{"value": "@{payload}"})))
	q := `a"b\c`
	for _, c := range []struct {
		payload string
		want    any
	}{
		{`{"q": "@{payload.q}"}`, map[string]any{"q": q}},
		{`say @{payload.q}`, "say " + q},
		{`[1, 2]`, []any{1.0, 2.0}},
		// A value that is JSON text itself, spliced in as written.
		{`{"data": @{payload.raw}, "n": "@{payload.name}"}`, map[string]any{"data": map[string]any{"k": "v"}, "n": "bob"}},
	} {
		p := env.compile(t, bp("caller",
			blk("t", "apitrigger", nil, "trigger>call"),
			blk("call", "runblueprint", f{"blueprintKey": "repeat", "payload": c.payload}, "success>r"),
			blk("r", "returnvalue", f{"value": "@{result}"}),
		))
		res, _ := env.run(t, p, engine.RunOptions{Payload: map[string]any{"q": q, "raw": `{"k":"v"}`, "name": "bob"}})
		if !reflect.DeepEqual(res.Return, c.want) {
			t.Errorf("payload %s: %#v (%v), want %#v", c.payload, res.Return, res.Err, c.want)
		}
	}
}

// A Writer field read both ways (JSON, else as written) is evaluated once:
// a missing path warns once.
func TestJSONOrTextWarnsOnce(t *testing.T) {
	env := newEnv(t)
	env.compile(t, bp("repeat", blk("r", "returnvalue", f{"value": "@{payload}"})))
	caller := bp("caller",
		blk("t", "apitrigger", nil, "trigger>call"),
		blk("call", "runblueprint", f{"blueprintKey": "repeat", "payload": `{"a": "@{payload.nope}", "b": @{payload.x}}`}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{result}"}),
	)
	caller.Format = engine.FormatWriter
	p := env.compile(t, caller)
	res, rec := env.run(t, p, engine.RunOptions{Payload: map[string]any{"x": "not json"}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var msgs []string
	for _, e := range rec.events {
		msgs = append(msgs, e.Message)
	}
	if n := strings.Count(strings.Join(msgs, "\n"), "using null as Writer does"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, strings.Join(msgs, "\n"))
	}
}

func TestRunTimeout(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("slow", blk("s", "sleep", f{"for": "10s"})))
	start := time.Now()
	res, _ := env.run(t, p, engine.RunOptions{Timeout: 50 * time.Millisecond})
	if res.Status != engine.StatusFailed || !strings.Contains(fmt.Sprint(res.Err), "run timed out after 50ms") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %s after its timeout", d)
	}
}

func TestMaxParallelBoundsBlocks(t *testing.T) {
	env := newEnv(t)
	blocks := []*engine.BlockSpec{blk("t", "apitrigger", nil)}
	for i := 0; i < 8; i++ {
		id := fmt.Sprint("s", i)
		blocks[0].Outs = append(blocks[0].Outs, engine.Edge{Outcome: "trigger", To: id})
		blocks = append(blocks, blk(id, "sleep", f{"for": "20ms"}))
	}
	p := env.compile(t, bp("fan", blocks...))
	res, _ := env.run(t, p, engine.RunOptions{MaxParallel: 3})
	if res.Status != engine.StatusCompleted {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	if m := env.sleep.max.Load(); m != 3 {
		t.Errorf("%d blocks ran at once, want 3", m)
	}
}

func TestForeachFailureNamesTheFailedIteration(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("loopfail",
		blk("each", "foreach", f{"items": "[0, 1, 2]", "parallel": 3}, "loop>pick"),
		blk("pick", "ifelse", f{"expression": "item == 1"}, "true>bad", "false>slow"),
		blk("bad", "fail", f{"message": "item one is bad"}),
		blk("slow", "sleep", f{"for": "5s"}),
	))
	start := time.Now()
	res, _ := env.run(t, p, engine.RunOptions{})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "iteration 1:") || !strings.Contains(res.Err.Error(), "item one is bad") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("the other iterations were not cancelled")
	}
}

func TestNamedTriggerStartsOnlyItsBranch(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("two",
		blk("api", "apitrigger", nil, "trigger>a"),
		blk("ui", "uieventtrigger", nil, "trigger>b"),
		blk("a", "returnvalue", f{"value": "from api"}),
		blk("b", "returnvalue", f{"value": "from ui"}),
	))
	res, rec := env.run(t, p, engine.RunOptions{Trigger: "ui"})
	if res.Return != "from ui" || rec.count(engine.BlockStarted, "a") != 0 {
		t.Fatalf("return %v (%v); a started %d times", res.Return, res.Err, rec.count(engine.BlockStarted, "a"))
	}
	res, _ = env.run(t, p, engine.RunOptions{Trigger: "nope"})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), `no block "nope"`) {
		t.Errorf("unknown trigger: %s %v", res.Status, res.Err)
	}
}

// picky is a type whose only error outcome is not called "error".
type picky struct{}

func (picky) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "picky", Outcomes: []string{"ok", "bad"}, ErrorOutcomes: []string{"bad"}}
}
func (picky) Run(ctx context.Context, c *engine.Call) engine.Result {
	return engine.Failure(errors.New("generic failure"))
}

func TestGenericFailureNeverPassesForSuccess(t *testing.T) {
	env := newEnv(t)
	env.reg.Register(picky{})
	p := env.compile(t, bp("picky", blk("p", "picky", nil, "ok>after"), blk("after", "noop", nil)))
	res, rec := env.run(t, p, engine.RunOptions{})
	if res.Status != engine.StatusFailed || rec.statuses()["p"] != engine.StatusFailed {
		t.Fatalf("status %s (%v), block %s", res.Status, res.Err, rec.statuses()["p"])
	}
}
