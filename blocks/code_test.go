package blocks_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
)

// codeRun runs a native blueprint with the real code block (a real python3
// fork server) and records its events and masked values in order.
func codeRun(t *testing.T, yaml string, opts engine.RunOptions) (*engine.RunResult, *codeLog) {
	t.Helper()
	bp, err := blueprints.ParseNative("code.bp.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	reg := blocks.Default(blocks.Options{})
	t.Cleanup(func() { reg.Close() })
	p, err := engine.Compile(bp, reg)
	if err != nil {
		t.Fatal(err)
	}
	log := &codeLog{}
	opts.Sink = log
	opts.OnSecret = log.secret
	return p.Run(context.Background(), opts), log
}

type codeLog struct {
	mu    sync.Mutex
	order []string // "secret:<v>", "<stream>:<text>", "finished:<block>:<status>"
}

func (l *codeLog) Emit(e *engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case engine.BlockOutput:
		l.order = append(l.order, e.Stream+":"+e.Message)
	case engine.BlockFinished:
		l.order = append(l.order, "finished:"+e.Block+":"+e.Status)
	}
}

func (l *codeLog) secret(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, "secret:"+v)
}

func (l *codeLog) String() string { return strings.Join(l.order, "\n") }

func TestCodeGlobalsStateAndOutput(t *testing.T) {
	res, log := codeRun(t, `
vault: [API_KEY]
blocks:
  start: {type: apitrigger, outs: {trigger: prep}}
  prep: {type: setstate, fields: {element: counter, value: "@{payload.n}"}, outs: {success: py}}
  py:
    type: code
    fields:
      code: |
        import sys
        print("first")
        print("to stderr", file=sys.stderr)
        logger.info("logged")
        state["counter"] = state["counter"] + 1
        state["added"] = [payload["n"], result, "API_KEY" in vault, len(vault)]
        print("last")
        set_output({"sum": payload["n"] * 2, "prev": results["prep"]})
    outs: {success: done}
  done: {type: returnvalue, fields: {value: {out: "@{result}", counter: "@{counter}", added: "@{added}"}}}
`, engine.RunOptions{Payload: map[string]any{"n": 20.0}, Secrets: staticSecrets{"API_KEY": "k-123456", "OTHER": "o-123456"}})
	if res.Status != engine.StatusReturned {
		t.Fatalf("status %s: %v\n%s", res.Status, res.Err, log)
	}
	ret := res.Return.(map[string]any)
	if out := ret["out"].(map[string]any); out["sum"] != 40.0 || out["prev"] != 20.0 {
		t.Errorf("set_output gave %v", out)
	}
	if ret["counter"] != 21.0 {
		t.Errorf("state write-back: counter %v", ret["counter"])
	}
	added := ret["added"].([]any)
	if added[0] != 20.0 || added[1] != 20.0 || added[2] != true || added[3] != 1.0 {
		t.Errorf("globals: %v (vault must hold only the listed secret)", added)
	}
	text := log.String()
	for _, want := range []string{"stdout:first\n", "stderr:to stderr\n", "logged", "stdout:last\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "stdout:first") > strings.Index(text, "stdout:last") {
		t.Errorf("output out of order:\n%s", text)
	}
}

func TestCodeErrors(t *testing.T) {
	tests := []struct {
		name, code, timeout string
		says                []string
	}{
		{"exception has its traceback", "x = 1\ny = x / 0\n", "", []string{"ZeroDivisionError", "line 2"}},
		{"result that is not JSON", "set_output({1, 2})\n", "", []string{"not JSON-serializable"}},
		{"timeout kills an endless loop", "while True:\n    pass\n", "300ms", []string{"timed out after 300ms"}},
		{"interpreter exit before answering", "import os\nos._exit(3)\n", "", []string{"status 3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timeout := ""
			if tc.timeout != "" {
				timeout = "\n      timeout: " + tc.timeout
			}
			res, log := codeRun(t, `
blocks:
  py:
    type: code
    fields:`+timeout+`
      code: |
`+indent(tc.code, "        ")+`
    outs: {error: handled}
  handled: {type: returnvalue, fields: {value: "@{message}"}}
`, engine.RunOptions{})
			if res.Status != engine.StatusReturned {
				t.Fatalf("status %s: %v\n%s", res.Status, res.Err, log)
			}
			msg, _ := res.Return.(string)
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
		})
	}
}

func TestCodeMaskRegistersBeforeLaterOutput(t *testing.T) {
	res, log := codeRun(t, `
blocks:
  py:
    type: code
    fields:
      code: |
        token = "tok-" + "abcdef123"
        mask(token)
        print("got", token)
`, engine.RunOptions{})
	if res.Status != engine.StatusCompleted {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	text := log.String()
	s, o := strings.Index(text, "secret:tok-abcdef123"), strings.Index(text, "stdout:got tok-abcdef123")
	if s < 0 || o < 0 || s > o {
		t.Errorf("mask must reach the scrubber before the output that shows it:\n%s", text)
	}
}

func TestParallelCodeBlocksKeepEachOthersState(t *testing.T) {
	res, log := codeRun(t, `
blocks:
  start: {type: apitrigger, outs: {trigger: [a, b]}}
  a: {type: code, fields: {code: "state['a'] = 1"}, outs: {success: j}}
  b: {type: code, fields: {code: "state['b'] = 2"}, outs: {success: j}}
  j: {type: returnvalue, fields: {value: "@{state}"}}
`, engine.RunOptions{})
	if res.Status != engine.StatusReturned {
		t.Fatalf("status %s: %v\n%s", res.Status, res.Err, log)
	}
	st := res.Return.(map[string]any)
	if st["a"] != 1.0 || st["b"] != 2.0 {
		t.Errorf("state %v: a block's write-back lost the other's change", st)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

// staticSecrets is a vault held in memory, as a Go program embedding bp
// might keep one.
type staticSecrets map[string]string

func (s staticSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", engine.ErrSecretNotFound
	}
	return v, nil
}

func (s staticSecrets) SecretNames(ctx context.Context) ([]string, error) {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	return out, nil
}

// forkServers lists this process's children that are bp fork servers.
func forkServers(t *testing.T) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(me) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte("\x00serve\x00")) {
			out[pid] = true
		}
	}
	return out
}

// twoCodeBlocks is a blueprint that runs more than one code block.
var twoCodeBlocks = &engine.Blueprint{Key: "two", Blocks: []*engine.BlockSpec{
	{ID: "a", Type: "code"}, {ID: "b", Type: "blueprints_code"},
}}

// Warm starts the fork server before any code block runs, for a blueprint
// with more than one; Close stops it, also when it comes while Warm is
// still starting it. A blueprint with one code block gets no server.
func TestCodeWarm(t *testing.T) {
	before := forkServers(t)
	one := blocks.NewCode(blocks.Options{})
	one.Warm(context.Background(), &engine.Blueprint{Key: "one", Blocks: []*engine.BlockSpec{{ID: "a", Type: "code"}}})
	for pid := range forkServers(t) {
		if !before[pid] {
			t.Errorf("a fork server (%d) for a single code block", pid)
		}
	}
	one.Close()

	c := blocks.NewCode(blocks.Options{})
	c.Warm(context.Background(), twoCodeBlocks)
	var started []int
	for pid := range forkServers(t) {
		if !before[pid] {
			started = append(started, pid)
		}
	}
	if len(started) != 1 {
		t.Fatalf("fork servers started by Warm: %v", started)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for forkServers(t)[started[0]] && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if forkServers(t)[started[0]] {
		t.Fatalf("fork server %d outlived Close", started[0])
	}

	c = blocks.NewCode(blocks.Options{})
	done := make(chan struct{})
	go func() { c.Warm(context.Background(), twoCodeBlocks); close(done) }()
	c.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Warm hung after Close")
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		left := 0
		for pid := range forkServers(t) {
			if !before[pid] {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("a fork server outlived Close during Warm")
}
