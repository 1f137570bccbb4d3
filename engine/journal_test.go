package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bprun/bp/engine"
)

// memJournal keeps checkpoints in memory, each through JSON and back as a
// journal that stores them elsewhere does.
type memJournal struct {
	mu   sync.Mutex
	cps  map[string][][]byte
	fail error // every Record fails with it when set
}

func (j *memJournal) Load(ctx context.Context, runID string) ([]*engine.Checkpoint, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*engine.Checkpoint
	for _, b := range j.cps[runID] {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var cp engine.Checkpoint
		if err := dec.Decode(&cp); err != nil {
			return nil, err
		}
		cp.Result = engine.Normalize(cp.Result)
		if cp.State != nil {
			cp.State = engine.Normalize(cp.State).(map[string]any)
		}
		out = append(out, &cp)
	}
	return out, nil
}

func (j *memJournal) Record(ctx context.Context, runID string, cp *engine.Checkpoint) error {
	if j.fail != nil {
		return j.fail
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cps == nil {
		j.cps = map[string][][]byte{}
	}
	j.cps[runID] = append(j.cps[runID], b)
	return nil
}

// step counts its runs by scope and block, prints, masks its mask field
// and returns its value field.
type step struct {
	mu    sync.Mutex
	calls map[string]int
	keys  []string
}

func (s *step) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "step", Fields: []engine.FieldSpec{{Name: "value"}, {Name: "mask"}}, Outcomes: []string{"success", "error"}}
}

func (s *step) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, err := c.Field("value")
	if err != nil {
		return engine.Failure(err)
	}
	if m, _ := c.String("mask"); m != "" {
		c.Mask(m)
		c.Output("stdout", "got "+m+"\n")
	}
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[c.ID()]++
	s.keys = append(s.keys, c.IdempotencyKey())
	s.mu.Unlock()
	return engine.Success(v)
}

func (s *step) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// halt stands for a process that dies mid-block: on the first attempt it
// ends the attempt's context and waits for it; later, it succeeds.
type halt struct {
	kill func()
	runs int
}

func (h *halt) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "halt", Outcomes: []string{"success", "error"}}
}

func (h *halt) Run(ctx context.Context, c *engine.Call) engine.Result {
	h.runs++
	if h.kill != nil {
		h.kill()
		<-ctx.Done()
		return engine.Failure(context.Cause(ctx))
	}
	return engine.Success("resumed")
}

func journalProgram(t *testing.T) (*testEnv, *engine.Program, *step, *halt) {
	env := newEnv(t)
	st, h := &step{}, &halt{}
	env.reg.Register(st)
	env.reg.Register(h)
	p := env.compile(t, bp("resume",
		blk("t", "apitrigger", nil, "trigger>a"),
		blk("a", "step", f{"value": "A", "mask": "tok-8f1e2d"}, "success>each"),
		blk("each", "foreach", f{"items": "[1, 2, 3]"}, "loop>add", "success>h"),
		blk("add", "addtostatelist", f{"element": "seen", "value": "@{item}"}, "success>inner"),
		blk("inner", "step", f{"value": "@{item}"}),
		blk("h", "halt", nil, "success>done"),
		blk("done", "returnvalue", f{"value": "@{state.seen}"}),
	))
	return env, p, st, h
}

// A run resumed over its journal runs again only the block that was in
// flight, restores the state, masks what was masked before it emits
// anything, and replays the events of the blocks it does not run again.
func TestJournalResumesAfterTheLastCheckpoint(t *testing.T) {
	env, p, st, h := journalProgram(t)
	j := &memJournal{}
	ctx, kill := context.WithCancel(context.Background())
	h.kill = kill
	first := p.Run(ctx, engine.RunOptions{RunID: "run-1", Journal: j, Library: env, Sink: &recorder{}, OnSecret: func(string) {}})
	if first.Status != engine.StatusCancelled {
		t.Fatalf("first attempt %s (%v), want cancelled", first.Status, first.Err)
	}
	if st.count("a") != 1 || st.count("inner") != 3 {
		t.Fatalf("first attempt ran a %d, inner %d times", st.count("a"), st.count("inner"))
	}

	h.kill = nil
	var mu sync.Mutex
	var order []string
	rec := &recorder{}
	sink := engine.SinkFunc(func(e *engine.Event) {
		mu.Lock()
		order = append(order, "event")
		mu.Unlock()
		rec.Emit(e)
	})
	onSecret := func(v string) {
		mu.Lock()
		order = append(order, "secret:"+v)
		mu.Unlock()
	}
	res := p.Run(context.Background(), engine.RunOptions{RunID: "run-1", Journal: j, Library: env, Sink: sink, OnSecret: onSecret})
	if res.Status != engine.StatusReturned {
		t.Fatalf("resumed run %s: %v", res.Status, res.Err)
	}
	if want := []any{1.0, 2.0, 3.0}; !reflect.DeepEqual(res.Return, want) {
		t.Errorf("return %#v, want %#v: the state was not restored once", res.Return, want)
	}
	if st.count("a") != 1 || st.count("inner") != 3 {
		t.Errorf("resumed run ran a checkpointed block again: a %d, inner %d times", st.count("a"), st.count("inner"))
	}
	if h.runs != 2 {
		t.Errorf("the block in flight ran %d times, want 2 (it had no checkpoint)", h.runs)
	}
	if len(order) == 0 || order[0] != "secret:tok-8f1e2d" {
		t.Errorf("the masked value was not registered before the first event: %v", order[:min(3, len(order))])
	}
	if got := rec.count(engine.BlockFinished, "a"); got != 1 {
		t.Errorf("resumed run's log has %d block.finished for a, want 1 (replayed)", got)
	}
	if got := rec.count(engine.BlockFinished, "inner"); got != 3 {
		t.Errorf("resumed run's log has %d block.finished for inner, want 3", got)
	}
	if got := rec.count(engine.BlockOutput, "a"); got != 1 {
		t.Errorf("resumed run's log has %d outputs of a, want its recorded one", got)
	}
	for _, e := range rec.events {
		if e.Kind == engine.BlockFinished && e.Block == "a" && e.Result != "A" {
			t.Errorf("replayed result of a = %#v", e.Result)
		}
	}
}

// Every block, loop iteration and attempt has its idempotency key: stable
// across attempts, distinct between blocks; none without a journal.
func TestJournalIdempotencyKeys(t *testing.T) {
	env, p, st, _ := journalProgram(t)
	res := p.Run(context.Background(), engine.RunOptions{RunID: "run-2", Library: env})
	if res.Status != engine.StatusReturned {
		t.Fatalf("%s: %v", res.Status, res.Err)
	}
	for _, k := range st.keys {
		if k != "" {
			t.Fatalf("key %q without a journal", k)
		}
	}
	st.keys = nil
	j := &memJournal{}
	res = p.Run(context.Background(), engine.RunOptions{RunID: "run-3", Library: env, Journal: j})
	if res.Status != engine.StatusReturned {
		t.Fatalf("%s: %v", res.Status, res.Err)
	}
	// a, each, h, add and inner three times: not the trigger nor the return
	// block that ends the run, which run again to the same effect.
	if n := len(j.cps["run-3"]); n != 9 {
		t.Errorf("%d checkpoints, want 9", n)
	}
	want := []string{"run-3/a", "run-3/each[0]/inner", "run-3/each[1]/inner", "run-3/each[2]/inner"}
	if !reflect.DeepEqual(st.keys, want) {
		t.Errorf("keys %q, want %q", st.keys, want)
	}
}

// A journal that cannot record costs a warning, once, not the run.
func TestJournalRecordFailureWarnsOnce(t *testing.T) {
	env, p, _, _ := journalProgram(t)
	rec := &recorder{}
	res := p.Run(context.Background(), engine.RunOptions{RunID: "run-4", Library: env, Sink: rec, Journal: &memJournal{fail: errors.New("store down")}})
	if res.Status != engine.StatusReturned {
		t.Fatalf("%s: %v", res.Status, res.Err)
	}
	n := 0
	for _, e := range rec.events {
		if e.Kind == engine.RunWarning && strings.Contains(e.Message, "checkpoint not recorded") && strings.Contains(e.Message, "store down") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings about checkpoints, want 1", n)
	}
}

// A journal that cannot load fails the run before any block runs.
func TestJournalLoadFailureFailsTheRun(t *testing.T) {
	env, p, st, _ := journalProgram(t)
	res := p.Run(context.Background(), engine.RunOptions{RunID: "run-5", Library: env, Journal: loadFails{}})
	if res.Status != engine.StatusFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "loading its checkpoints") {
		t.Fatalf("%s: %v", res.Status, res.Err)
	}
	if st.count("a") != 0 {
		t.Error("a block ran though the checkpoints could not be loaded")
	}
}

type loadFails struct{}

func (loadFails) Load(context.Context, string) ([]*engine.Checkpoint, error) {
	return nil, errors.New("unreachable")
}
func (loadFails) Record(context.Context, string, *engine.Checkpoint) error { return nil }
