package blocks_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
)

// Helpers for the httprequest tests: a registry with the core types and
// the HTTP type, blueprints built in Go, and a log of a run's events and
// of the secrets it registered, in one order.

type httpEnv struct {
	reg  *blocks.Registry
	http *blocks.HTTPRequest
}

func newHTTPEnv(t testing.TB, opts blocks.HTTPOptions) *httpEnv {
	t.Helper()
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	h := blocks.NewHTTPRequest(opts)
	reg.Register(h)
	t.Cleanup(func() { reg.Close() })
	return &httpEnv{reg: reg, http: h}
}

func (e *httpEnv) compile(t testing.TB, bp *engine.Blueprint) *engine.Program {
	t.Helper()
	p, err := engine.Compile(bp, e.reg)
	if err != nil {
		t.Fatalf("compile %s: %v", bp.Key, err)
	}
	return p
}

// run compiles and runs a blueprint, recording its events.
func (e *httpEnv) run(t testing.TB, bp *engine.Blueprint, opts engine.RunOptions) (*engine.RunResult, *httpLog) {
	t.Helper()
	log := &httpLog{}
	opts.Sink = log
	opts.OnSecret = log.secret
	return e.compile(t, bp).Run(context.Background(), opts), log
}

// httpLog keeps a run's events and the values it masked, in order.
type httpLog struct {
	mu      sync.Mutex
	events  []engine.Event
	secrets []string
	order   []string // "secret:<value>" and "<kind>:<block>"
}

func (l *httpLog) Emit(e *engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, *e)
	l.order = append(l.order, string(e.Kind)+":"+e.Block)
}

func (l *httpLog) secret(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets = append(l.secrets, v)
	l.order = append(l.order, "secret:"+v)
}

// finished is the block.finished event of a top-level block.
func (l *httpLog) finished(t testing.TB, block string) engine.Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == engine.BlockFinished && e.Block == block && e.Scope == "" {
			return e
		}
	}
	t.Fatalf("block %s did not finish; events: %v", block, l.order)
	return engine.Event{}
}

func (l *httpLog) count(kind engine.EventKind, block string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == kind && e.Block == block {
			n++
		}
	}
	return n
}

func (l *httpLog) messages(kind engine.EventKind) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e.Message)
		}
	}
	return out
}

func (l *httpLog) index(entry string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.order {
		if o == entry {
			return i
		}
	}
	return -1
}

// httpBP builds a native blueprint: an apitrigger "start" leading to a
// block "call" of type httprequest with fields and outs, then the other
// blocks.
func httpBP(fields map[string]any, outs []string, more ...*engine.BlockSpec) *engine.Blueprint {
	blocks := []*engine.BlockSpec{
		httpBlk("start", "apitrigger", nil, "trigger>call"),
		httpBlk("call", "httprequest", fields, outs...),
	}
	return &engine.Blueprint{Key: "http", Source: "http.bp.yaml", Blocks: append(blocks, more...)}
}

// httpBlk builds a block; outs are "outcome>target".
func httpBlk(id, typ string, fields map[string]any, outs ...string) *engine.BlockSpec {
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

// httpSecrets is a vault held in a map.
type httpSecrets map[string]string

func (m httpSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, engine.ErrSecretNotFound)
	}
	return v, nil
}

func (m httpSecrets) SecretNames(ctx context.Context) ([]string, error) {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	return names, nil
}

// resultMap is a block's result as a map.
func httpResult(t testing.TB, e engine.Event) map[string]any {
	t.Helper()
	m, ok := e.Result.(map[string]any)
	if !ok {
		t.Fatalf("block %s: result %#v is not a map", e.Block, e.Result)
	}
	return m
}
