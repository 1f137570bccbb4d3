package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/bprun/bp/engine"
)

// chain builds trigger -> b0 -> b1 -> ... -> b(n-1) of no-op blocks.
func chain(n int) *engine.Blueprint {
	blocks := []*engine.BlockSpec{blk("t", "apitrigger", nil, "trigger>b0")}
	for i := 0; i < n; i++ {
		b := blk(fmt.Sprint("b", i), "noop", nil)
		if i+1 < n {
			b.Outs = []engine.Edge{{Outcome: "success", To: fmt.Sprint("b", i+1)}}
		}
		blocks = append(blocks, b)
	}
	return bp("chain", blocks...)
}

// fanOut builds a trigger with n no-op blocks after it.
func fanOut(n int) *engine.Blueprint {
	t := blk("t", "apitrigger", nil)
	blocks := []*engine.BlockSpec{t}
	for i := 0; i < n; i++ {
		id := fmt.Sprint("b", i)
		t.Outs = append(t.Outs, engine.Edge{Outcome: "trigger", To: id})
		blocks = append(blocks, blk(id, "noop", nil))
	}
	return bp("fan", blocks...)
}

func benchBlocks(b *testing.B, bpt *engine.Blueprint, n int) {
	env := newEnv(b)
	p := env.compile(b, bpt)
	// Sinks see every event, as the CLI's do; this one drops them.
	opts := engine.RunOptions{Sink: engine.Discard}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := p.Run(context.Background(), opts); res.Status != engine.StatusCompleted {
			b.Fatalf("status %s: %v", res.Status, res.Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/block")
}

// BenchmarkChain10k measures per-block overhead of a chain of 10,000
// no-op blocks: each waits for the one before.
func BenchmarkChain10k(b *testing.B) { benchBlocks(b, chain(10000), 10000) }

// BenchmarkFanOut10k measures per-block overhead of 10,000 no-op blocks
// that are all ready at once.
func BenchmarkFanOut10k(b *testing.B) { benchBlocks(b, fanOut(10000), 10000) }

// BenchmarkGoroutinePerBlock is the obvious alternative to the engine's
// scheduler, measured in the same run: a goroutine and a channel handoff
// per block of a 10,000-block chain, with nothing else.
func BenchmarkGoroutinePerBlock(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		prev := make(chan struct{})
		first := prev
		for j := 0; j < n; j++ {
			next := make(chan struct{})
			go func(in, out chan struct{}) { <-in; close(out) }(prev, next)
			prev = next
		}
		close(first)
		<-prev
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/block")
}

// BenchmarkTemplate measures evaluating a cached template: a plain path, a
// path inside text, and an expr-lang expression.
func BenchmarkTemplate(b *testing.B) {
	for _, tc := range []struct{ name, src string }{
		{"path", "@{payload.user.name}"},
		{"text", "Hello @{payload.user.name}, you are @{payload.user.age}"},
		{"expr", "@{payload.user.age >= 18 && payload.user.name != ''}"},
		// A secret read from the run's cache: the vault was read once, at
		// the start of the run.
		{"vault", "@{vault.API_KEY}"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			env := newEnv(b)
			bench := &templateBench{}
			env.reg.Register(bench)
			p := env.compile(b, bp("tmpl", blk("x", "tbench", f{"v": tc.src})))
			bench.n = b.N
			bench.b = b
			payload := map[string]any{"user": map[string]any{"name": "Ada", "age": 36.0}}
			res := p.Run(context.Background(), engine.RunOptions{Payload: payload, Sink: engine.Discard, Secrets: mapSecrets{"API_KEY": "k-0123456789"}})
			if res.Status != engine.StatusCompleted {
				b.Fatalf("%s: %v", res.Status, res.Err)
			}
		})
	}
}

// templateBench is a block type that evaluates its field b.N times.
type templateBench struct {
	n int
	b *testing.B
}

func (t *templateBench) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "tbench", Fields: []engine.FieldSpec{{Name: "v"}}, Outcomes: []string{"success", "error"}}
}

func (t *templateBench) Run(ctx context.Context, c *engine.Call) engine.Result {
	t.b.ReportAllocs()
	t.b.ResetTimer()
	for i := 0; i < t.n; i++ {
		if _, err := c.Field("v"); err != nil {
			return engine.Failure(err)
		}
	}
	t.b.StopTimer()
	return engine.Success(nil)
}

// BenchmarkExprCompileEachTime is the obvious alternative to compiling
// once at load: expr-lang compiling the expression at every evaluation.
func BenchmarkExprCompileEachTime(b *testing.B) {
	env := map[string]any{"payload": map[string]any{"user": map[string]any{"name": "Ada", "age": 36.0}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out, err := expr.Eval("payload.user.age >= 18 && payload.user.name != ''", env)
		if err != nil || out != true {
			b.Fatal(out, err)
		}
	}
}
