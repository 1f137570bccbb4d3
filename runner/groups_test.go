package runner_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
)

// printer is a block type that prints the run's payload, a list of
// [stream, text] pairs, one output event per pair: output cut wherever a
// test wants it cut.
type printer struct{}

func (printer) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "printer", Outcomes: []string{"success"}}
}

func (printer) Run(ctx context.Context, c *engine.Call) engine.Result {
	for _, p := range c.Payload().([]any) {
		pair := p.([]any)
		c.Output(pair[0].(string), pair[1].(string))
	}
	return engine.Result{Outcome: "success"}
}

// streams collects the output a run's sinks receive, per stream.
type streams struct {
	mu  sync.Mutex
	out map[string]*strings.Builder
}

func (s *streams) Emit(e *engine.Event) {
	if e.Kind != engine.BlockOutput {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.out[e.Stream]
	if b == nil {
		b = &strings.Builder{}
		s.out[e.Stream] = b
	}
	b.WriteString(e.Message)
}

// TestWholeGroupsThroughTheRunSink runs the whole-group property test
// (scrub/groups_test.go) through a real run: a random secret (4–64 bytes,
// any bytes) from the run's secrets, between random neighbours, printed in
// every encoding that masks by groups, each on its own stream in random
// pieces interleaved with the other streams. What the sinks receive shows
// no character of a group that carries a byte of the secret, and is what
// the scrubber makes of the text in one piece.
func TestWholeGroupsThroughTheRunSink(t *testing.T) {
	set := load(t, map[string]string{"print.bp.yaml": "blocks:\n  p: {type: printer}\n"})
	reg := blocks.Default(blocks.Options{})
	reg.Register(printer{})
	lib := runner.NewLibrary(set, reg)
	r := rand.New(rand.NewPCG(17, 12))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	runs := 60
	if testing.Short() {
		runs = 10
	}
	for range runs {
		secret := rnd(4 + r.IntN(61))
		prefix := []byte("user:"[:r.IntN(6)])
		suffix := rnd(r.IntN(6))
		value := append(append(append([]byte(nil), prefix...), secret...), suffix...)
		texts := map[string]string{}
		marks := map[string][]bool{}
		var pieces [][]string
		for _, enc := range leaktest.Encodings {
			text, marked := enc.Encode(value, len(prefix), len(prefix)+len(secret))
			texts[enc.Name], marks[enc.Name] = text, marked
			for rest := text; rest != ""; {
				n := min(len(rest), 1+r.IntN(9))
				pieces = append(pieces, []string{enc.Name, rest[:n]})
				rest = rest[n:]
			}
		}
		// Interleave the streams at random, each in its own order.
		byStream := map[string][][]string{}
		for _, p := range pieces {
			byStream[p[0]] = append(byStream[p[0]], p)
		}
		r.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
		for i, p := range pieces {
			pieces[i] = byStream[p[0]][0]
			byStream[p[0]] = byStream[p[0]][1:]
		}
		var payload []any
		for _, p := range pieces {
			payload = append(payload, []any{p[0], p[1]})
		}
		got := &streams{out: map[string]*strings.Builder{}}
		run := runner.New(runner.Options{Library: lib, Secrets: runner.StaticSecrets{"S": string(secret)}})
		res, err := run.Run(context.Background(), runner.Request{Blueprint: "print", Payload: payload, Sinks: []engine.Sink{got}})
		if err != nil || res.Status != engine.StatusCompleted {
			t.Fatalf("run: %v %+v", err, res)
		}
		one := scrub.New()
		one.Add(string(secret))
		for _, enc := range leaktest.Encodings {
			out := got.out[enc.Name].String()
			if err := leaktest.CheckGroups(texts[enc.Name], marks[enc.Name], out, scrub.Mask); err != nil {
				t.Fatalf("%s, secret %x: %v", enc.Name, secret, err)
			}
			if want := one.String(texts[enc.Name]); out != want {
				t.Fatalf("%s, secret %x: the run printed %q, the scrubber in one piece gives %q", enc.Name, secret, out, want)
			}
		}
	}
}

// outputEvents records the output events a run's sinks receive.
type outputEvents struct {
	mu  sync.Mutex
	got [][2]string // stream, message
}

func (o *outputEvents) Emit(e *engine.Event) {
	if e.Kind == engine.BlockOutput {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.got = append(o.got, [2]string{e.Stream, e.Message})
	}
}

// TestOutputEventsAreDelayedNotCut: text the scrubber holds back (the end
// of an output may be the start of a secret or of a base64 group) delays
// its event until the rest is decided; the event is never cut in two. Log
// messages are scrubbed each on its own.
func TestOutputEventsAreDelayedNotCut(t *testing.T) {
	set := load(t, map[string]string{"print.bp.yaml": "blocks:\n  p: {type: printer}\n"})
	reg := blocks.Default(blocks.Options{})
	reg.Register(printer{})
	run := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), Secrets: runner.StaticSecrets{"S": canary}})
	payload := []any{
		[]any{"stdout", "Paris: 21.5 °C"},
		[]any{"stdout", "done"},
		[]any{"log", "YWJj"},
		[]any{"stdout", "token " + canary[:5]},
		[]any{"stdout", canary[5:] + " end"},
		[]any{"log", "whole"},
	}
	got := &outputEvents{}
	res, err := run.Run(context.Background(), runner.Request{Blueprint: "print", Payload: payload, Sinks: []engine.Sink{got}})
	if err != nil || res.Status != engine.StatusCompleted {
		t.Fatalf("run: %v %+v", err, res)
	}
	want := [][2]string{{"log", "YWJj"}, {"log", "whole"}, {"stdout", "Paris: 21.5 °C"}, {"stdout", "done"}, {"stdout", "token ***"}, {"stdout", " end"}}
	slices.SortStableFunc(got.got, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	if !slices.Equal(got.got, want) {
		t.Errorf("output events %q, want %q", got.got, want)
	}
}
