package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
)

// Test block types. They are not stand-ins for bp's own blocks: they are
// block types with behaviour the scheduler tests need (sleep, fail, panic,
// count concurrency), registered beside the real core blocks.

type noop struct{}

func (noop) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "noop", Outcomes: []string{"success", "error"}}
}
func (noop) Run(ctx context.Context, c *engine.Call) engine.Result { return engine.Success(nil) }

type fail struct{}

func (fail) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "fail", Fields: []engine.FieldSpec{{Name: "message"}}, Outcomes: []string{"success", "error"}}
}
func (fail) Run(ctx context.Context, c *engine.Call) engine.Result {
	msg, _ := c.String("message")
	return engine.Failure(errors.New(msg))
}

type panicker struct{}

func (panicker) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "panic", Outcomes: []string{"success", "error"}}
}
func (panicker) Run(ctx context.Context, c *engine.Call) engine.Result { panic("boom") }

// sleeper sleeps for its duration field, or until cancelled, and counts
// how many sleepers run at once.
type sleeper struct {
	running, max atomic.Int32
}

func (s *sleeper) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "sleep", Fields: []engine.FieldSpec{{Name: "for"}, {Name: "timeout"}, {Name: "value"}}, Outcomes: []string{"success", "error"}}
}
func (s *sleeper) Run(ctx context.Context, c *engine.Call) engine.Result {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			break
		}
	}
	d, err := c.Duration("for", time.Second)
	if err != nil {
		return engine.Failure(err)
	}
	v, _ := c.Field("value")
	select {
	case <-time.After(d):
		return engine.Success(v)
	case <-ctx.Done():
		return engine.Failure(context.Cause(ctx))
	}
}

type testEnv struct {
	reg   *blocks.Registry
	sleep *sleeper
	lib   map[string]*engine.Program
}

func newEnv(t testing.TB) *testEnv {
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	s := &sleeper{}
	for _, typ := range []engine.BlockType{noop{}, fail{}, panicker{}, s} {
		reg.Register(typ)
	}
	return &testEnv{reg: reg, sleep: s, lib: map[string]*engine.Program{}}
}

func (e *testEnv) Program(key string) (*engine.Program, error) {
	p, ok := e.lib[key]
	if !ok {
		return nil, fmt.Errorf("blueprint %s: %w", key, engine.ErrNotFound)
	}
	return p, nil
}

func (e *testEnv) compile(t testing.TB, bp *engine.Blueprint) *engine.Program {
	t.Helper()
	p, err := engine.Compile(bp, e.reg)
	if err != nil {
		t.Fatalf("compile %s: %v", bp.Key, err)
	}
	e.lib[bp.Key] = p
	return p
}

// recorder keeps a run's events.
type recorder struct {
	mu     sync.Mutex
	events []engine.Event
}

func (r *recorder) Emit(e *engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, *e)
	r.mu.Unlock()
}

// statuses maps block id to its final status.
func (r *recorder) statuses() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, e := range r.events {
		if e.Kind == engine.BlockFinished && e.Scope == "" {
			out[e.Block] = e.Status
		}
	}
	return out
}

func (r *recorder) count(kind engine.EventKind, block string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && e.Block == block {
			n++
		}
	}
	return n
}

func (e *testEnv) run(t testing.TB, p *engine.Program, opts engine.RunOptions) (*engine.RunResult, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Sink = rec
	opts.Library = e
	return p.Run(context.Background(), opts), rec
}

// bp builds a native blueprint from blocks.
func bp(key string, blocks ...*engine.BlockSpec) *engine.Blueprint {
	return &engine.Blueprint{Key: key, Source: key + ".bp.yaml", Blocks: blocks}
}

// blk builds a block; outs are "outcome>target".
func blk(id, typ string, fields map[string]any, outs ...string) *engine.BlockSpec {
	b := &engine.BlockSpec{ID: id, Type: typ, Fields: fields}
	if b.Fields == nil {
		b.Fields = map[string]any{}
	}
	for _, o := range outs {
		outcome, to, ok := strings.Cut(o, ">")
		if !ok {
			panic("bad out " + o)
		}
		b.Outs = append(b.Outs, engine.Edge{Outcome: outcome, To: to})
	}
	return b
}

type f = map[string]any

// mapSecrets is a vault held in a map: the engine's SecretSource
// interface implemented by the test, as a Go program embedding bp would.
type mapSecrets map[string]string

func (m mapSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, engine.ErrSecretNotFound)
	}
	return v, nil
}

func (m mapSecrets) SecretNames(ctx context.Context) ([]string, error) {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	return names, nil
}
