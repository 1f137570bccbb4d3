//go:build unix

package pyrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Shared runners, one per mode, so the suite starts Python few times.
var (
	sharedOnce sync.Once
	shared     map[Mode]*Runner
	sharedErr  error
)

func runner(t *testing.T, m Mode) *Runner {
	t.Helper()
	sharedOnce.Do(func() {
		shared = map[Mode]*Runner{}
		for _, m := range []Mode{ModeForkServer, ModeFresh} {
			r, err := New(inTemp(Options{Mode: m}))
			if err != nil {
				sharedErr = err
				return
			}
			shared[m] = r
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared[m]
}

// prompt bounds what must return promptly (generous: the test machine may
// be loaded; a hang would take 1000 s).
const prompt = 15 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	for _, r := range shared {
		r.Close()
	}
	os.Exit(code)
}

// bothModes runs f as parallel subtests, once per mode.
func bothModes(t *testing.T, f func(t *testing.T, r *Runner)) {
	t.Helper()
	for _, m := range []Mode{ModeForkServer, ModeFresh} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			f(t, runner(t, m))
		})
	}
}

type event struct {
	kind string // stdout, stderr, mask
	data string
}

// recorder is a Handler that keeps every event in order.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Output(stream string, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{stream, string(p)})
}

func (r *recorder) Mask(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{"mask", v})
}

// text is the concatenated output of the given streams (all when none).
func (r *recorder) text(streams ...string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		if e.kind == "mask" {
			continue
		}
		if len(streams) == 0 || e.kind == streams[0] || (len(streams) > 1 && e.kind == streams[1]) {
			b.WriteString(e.data)
		}
	}
	return b.String()
}

func run(t *testing.T, r *Runner, req *Request) (*Response, *recorder, error) {
	t.Helper()
	rec := &recorder{}
	if req.Timeout == 0 {
		req.Timeout = time.Minute // a loaded machine is slow, not hung
	}
	resp, err := r.Run(context.Background(), req, rec)
	return resp, rec, err
}

func mustRun(t *testing.T, r *Runner, req *Request) (*Response, *recorder) {
	t.Helper()
	resp, rec, err := run(t, r, req)
	if err != nil {
		t.Fatalf("Run: %v\noutput: %s", err, rec.text())
	}
	if resp.Error != nil {
		t.Fatalf("script error: %v\noutput: %s", resp.Error, rec.text())
	}
	return resp, rec
}

func TestGlobals(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, _ := mustRun(t, r, &Request{
			Code: `
import logging
assert callable(set_output) and callable(mask)
assert isinstance(logger, logging.Logger)
assert type(vault) is dict
set_output({
    "state": state, "payload": payload, "result": result, "results": results,
    "vault": vault["API_KEY"], "context": context, "item": item, "itemId": itemId,
    "extra": my_item, "name": __name__,
})`,
			Vault:   map[string]string{"API_KEY": "k-123"},
			State:   map[string]any{"n": 1},
			Payload: map[string]any{"p": true},
			Result:  "prev",
			Results: map[string]any{"a": []any{1, 2}},
			Context: map[string]any{"runId": "r1"},
			Item:    "it",
			ItemID:  3,
			Globals: map[string]any{"my_item": "x", "state": "ignored"},
		})
		want := map[string]any{
			"state": map[string]any{"n": int64(1)}, "payload": map[string]any{"p": true},
			"result": "prev", "results": map[string]any{"a": []any{int64(1), int64(2)}},
			"vault": "k-123", "context": map[string]any{"runId": "r1"}, "item": "it",
			"itemId": int64(3), "extra": "x", "name": "__main__",
		}
		if !resp.HasValue || fmt.Sprint(resp.Value) != fmt.Sprint(want) {
			t.Fatalf("value = %#v\nwant %#v", resp.Value, want)
		}
	})
}

func TestNoOutput(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, rec := mustRun(t, r, &Request{Code: "x = 1"})
		if resp.HasValue || resp.Value != nil || len(rec.events) != 0 {
			t.Fatalf("resp = %+v, events = %v", resp, rec.events)
		}
		resp, _ = mustRun(t, r, &Request{Code: "set_output(None)\nimport sys\nsys.exit(0)\nset_output(1)"})
		if !resp.HasValue || resp.Value != nil {
			t.Fatalf("resp = %+v", resp)
		}
	})
}

func TestStateWriteBack(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, _ := mustRun(t, r, &Request{
			Code:  "state['count'] += 1\nstate['big'] = 987127\nstate['f'] = 2.5\nstate['huge'] = 2**70\ndel state['gone']\nset_output(state['count'])",
			State: map[string]any{"count": 41, "gone": "x"},
		})
		want := map[string]any{"count": int64(42), "big": int64(987127), "f": 2.5}
		for k, v := range want {
			if resp.State[k] != v {
				t.Errorf("state[%s] = %#v, want %#v", k, resp.State[k], v)
			}
		}
		if fmt.Sprint(resp.State["huge"]) != "1180591620717411303424" {
			t.Errorf("huge = %#v", resp.State["huge"])
		}
		if _, ok := resp.State["gone"]; ok {
			t.Error("deleted key still in state")
		}
		if resp.Value != int64(42) {
			t.Errorf("value = %#v", resp.Value)
		}
		// Rebinding the global counts too.
		resp, _ = mustRun(t, r, &Request{Code: "state = {'new': [1, 'a']}", State: map[string]any{"old": 1}})
		if fmt.Sprint(resp.State) != "map[new:[1 a]]" {
			t.Errorf("state = %v", resp.State)
		}
	})
}

func TestOutputOrder(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec := mustRun(t, r, &Request{Code: `
import sys
print("one")
print("two", file=sys.stderr)
logger.info("three %d", 3)
sys.stdout.write("fo")
sys.stdout.write("ur\n")
logger.warning("five")
print("six", "6", sep="-")
sys.stdout.buffer.write(b"seven\n")
print("partial", end="")
print("eight", file=sys.stderr)
print("ni", end="")
print("ne")
sys.stdout.reconfigure(encoding="utf-8")
print("tail", end="")
`})
		var got []string
		for _, e := range rec.events {
			got = append(got, e.kind+":"+e.data)
		}
		want := []string{
			"stdout:one\n", "stderr:two\n", "stderr:INFO: three 3\n", "stdout:four\n",
			"stderr:WARNING: five\n", "stdout:six-6\n", "stdout:seven\n", "stdout:partial",
			"stderr:eight\n", "stdout:nine\n", "stdout:tail",
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("events:\n%q\nwant\n%q", got, want)
		}
	})
}

func TestRawOutput(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec := mustRun(t, r, &Request{Code: `
import os, subprocess, sys
print("framed first", flush=True)
os.write(1, b"raw out\n")
os.write(2, b"raw err\n")
subprocess.run(["sh", "-c", "echo from sh; echo sh err >&2"], check=True)
sys.__stdout__.write("dunder\n")
`})
		out, errOut := rec.text(Stdout), rec.text(Stderr)
		if !strings.HasPrefix(out, "framed first\nraw out\n") || !strings.Contains(out, "from sh\n") || !strings.Contains(out, "dunder\n") {
			t.Errorf("stdout = %q", out)
		}
		if !strings.Contains(errOut, "raw err\n") || !strings.Contains(errOut, "sh err\n") {
			t.Errorf("stderr = %q", errOut)
		}
	})
}

func TestMaskBeforeOutput(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		const tok = "tok-8f1b2c3d4e"
		resp, rec := mustRun(t, r, &Request{Code: `
import os, subprocess, sys, threading
print("start")
sys.stdout.write("token is ")   # pending partial line
t = mask("` + tok + `")
sys.stdout.write(t + "\n")
print("err " + t, file=sys.stderr)
logger.info("log %s", t)
os.write(1, ("raw " + t + "\n").encode())
subprocess.run(["echo", "sub", t])
def worker():
    print("thread " + t)
th = threading.Thread(target=worker); th.start(); th.join()
mask(12345)
mask("")
`})
		maskAt := -1
		for i, e := range rec.events {
			if e.kind == "mask" && e.data == tok {
				maskAt = i
			}
			if e.kind != "mask" && strings.Contains(e.data, tok) && maskAt < 0 {
				t.Fatalf("output %q delivered before its mask; events %q", e.data, rec.events)
			}
		}
		if maskAt < 0 || strings.Count(rec.text(), tok) != 6 {
			t.Fatalf("events %q", rec.events)
		}
		if strings.Join(resp.Masks, ",") != tok+",12345" {
			t.Errorf("masks = %q", resp.Masks)
		}
	})
}

func TestException(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, rec := mustRun2(t, r, &Request{Code: "print('before')\ndef f(x):\n    return 1 / x\n\nstate['touched'] = True\nf(0)\n"})
		e := resp.Error
		if e == nil {
			t.Fatal("no error")
		}
		if e.Type != "ZeroDivisionError" || e.Message != "division by zero" {
			t.Errorf("error = %q %q", e.Type, e.Message)
		}
		want := "Traceback (most recent call last):\n" +
			"  File \"<code>\", line 6, in <module>\n    f(0)\n" +
			"  File \"<code>\", line 3, in f\n    return 1 / x\n"
		if !strings.HasPrefix(e.Traceback, want) || !strings.HasSuffix(e.Traceback, "ZeroDivisionError: division by zero\n") {
			t.Errorf("traceback:\n%s", e.Traceback)
		}
		if strings.Contains(e.Traceback, "<string>") || strings.Contains(e.Traceback, "_run") {
			t.Errorf("harness frames in traceback:\n%s", e.Traceback)
		}
		if rec.text() != "before\n" || resp.State["touched"] != true {
			t.Errorf("output %q, state %v", rec.text(), resp.State)
		}

		resp, _ = mustRun2(t, r, &Request{Code: "x = (\n"})
		if resp.Error == nil || resp.Error.Type != "SyntaxError" || !strings.Contains(resp.Error.Traceback, `File "<code>", line 1`) {
			t.Errorf("syntax error: %+v", resp.Error)
		}
		resp, _ = mustRun2(t, r, &Request{Code: "import json\njson.loads('{')"})
		if resp.Error == nil || resp.Error.Type != "json.decoder.JSONDecodeError" || !strings.Contains(resp.Error.Traceback, "json/decoder.py") {
			t.Errorf("library error: %+v", resp.Error)
		}
		resp, _ = mustRun2(t, r, &Request{Code: "import sys\nsys.exit(4)"})
		if resp.Error == nil || resp.Error.Type != "SystemExit" || resp.Error.Message != "4" {
			t.Errorf("sys.exit: %+v", resp.Error)
		}
		resp, _ = mustRun2(t, r, &Request{Code: "set_output(object())\nraise ValueError('boom')"})
		if resp.Error == nil || resp.Error.Type != "ValueError" || resp.HasValue {
			t.Errorf("error with bad value: %+v", resp)
		}
	})
}

// mustRun2 runs a block that may raise.
func mustRun2(t *testing.T, r *Runner, req *Request) (*Response, *recorder) {
	t.Helper()
	resp, rec, err := run(t, r, req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return resp, rec
}

func TestNotSerializable(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		cases := []struct{ code, want string }{
			{"set_output({1, 2})", "the value passed to set_output is not JSON-serializable: Object of type set is not JSON serializable"},
			{"set_output(float('nan'))", "the value passed to set_output is not JSON-serializable"},
			{"import datetime\nstate['when'] = datetime.date(2020, 1, 2)", "state['when'] is not JSON-serializable: Object of type date is not JSON serializable"},
			{"state = [1]", "state must be a dict, not list"},
		}
		for _, c := range cases {
			_, _, err := run(t, r, &Request{Code: c.code})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err = %v, want %q", c.code, err, c.want)
			}
			if c.code != "state = [1]" && !errors.Is(err, ErrNotSerializable) {
				t.Errorf("%s: not ErrNotSerializable", c.code)
			}
		}
		if _, err := r.Run(context.Background(), &Request{Payload: make(chan int)}, nil); err == nil {
			t.Error("unencodable payload accepted")
		}
	})
}

func TestTimeout(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		start := time.Now()
		// Long enough for a fresh interpreter on a busy machine to print.
		_, rec, err := run(t, r, &Request{Code: "print('spinning', flush=True)\nwhile True: pass", Timeout: 2 * time.Second})
		if !errors.Is(err, ErrTimeout) || err.Error() != "timed out after 2s" {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > prompt {
			t.Errorf("took %v", d)
		}
		if rec.text() != "spinning\n" {
			t.Errorf("output %q", rec.text())
		}
		// A timeout also kills what the block started.
		pidFile := t.TempDir() + "/pid"
		_, _, err = run(t, r, &Request{Code: `
import subprocess, time
p = subprocess.Popen(["sleep", "1000"])
open(` + strconv.Quote(pidFile) + `, "w").write(str(p.pid))
time.sleep(1000)`, Timeout: 3 * time.Second})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
		b, rerr := os.ReadFile(pidFile)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pid, _ := strconv.Atoi(string(b))
		waitGone(t, pid)
	})
}

func TestCancel(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{}
		go func() {
			for {
				time.Sleep(10 * time.Millisecond)
				rec.mu.Lock()
				n := len(rec.events)
				rec.mu.Unlock()
				if n > 0 {
					cancel()
					return
				}
			}
		}()
		start := time.Now()
		_, err := r.Run(ctx, &Request{Code: "import time\nprint('sleeping', flush=True)\ntime.sleep(100)"}, rec)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > prompt {
			t.Errorf("took %v", d)
		}
		if _, err := r.Run(ctx, &Request{Code: "pass"}, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled ctx: err = %v", err)
		}
	})
}

func TestCrash(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec, err := run(t, r, &Request{Code: "print('bye')\nimport os\nos._exit(3)"})
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != 3 || err.Error() != "python exited with status 3 before answering" {
			t.Fatalf("err = %v", err)
		}
		_ = rec
		_, _, err = run(t, r, &Request{Code: "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"})
		if !errors.As(err, &ee) || ee.Signal != unix.SIGSEGV || !strings.Contains(err.Error(), "signal 11") {
			t.Fatalf("err = %v", err)
		}
		_, _, err = run(t, r, &Request{Code: "import ctypes\nctypes.string_at(0)"})
		if !errors.As(err, &ee) || ee.Signal != unix.SIGSEGV {
			t.Fatalf("segfault: err = %v", err)
		}
	})
}

// waitGone waits until pid no longer runs (gone or a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("process %d still running: %s", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGrandchild(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		cases := map[string]string{
			"popen": `
import subprocess
p = subprocess.Popen(["sleep", "1000"])
set_output(p.pid)`,
			"popen-devnull": `
import subprocess
p = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
set_output(p.pid)`,
			"fork": `
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(1000)
    os._exit(0)
print("parent")
set_output(pid)`,
			"fork-fallthrough": `
import os, time
pid = os.fork()
if pid == 0:
    set_output("from the grandchild")
    state["who"] = "grandchild"
    time.sleep(0.05)
else:
    time.sleep(0.3)
    set_output(pid)
`,
			"fork-print": `
import os, time
pid = os.fork()
if pid == 0:
    print("grandchild says hi", flush=True)
    time.sleep(1000)
time.sleep(0.2)
set_output(pid)`,
		}
		for name, code := range cases {
			t.Run(name, func(t *testing.T) {
				start := time.Now()
				resp, rec := mustRun(t, r, &Request{Code: code})
				if d := time.Since(start); d > prompt {
					t.Errorf("took %v", d)
				}
				pid, ok := resp.Value.(int64)
				if !ok {
					t.Fatalf("value %#v", resp.Value)
				}
				waitGone(t, int(pid))
				if name == "fork-print" && !strings.Contains(rec.text(), "grandchild says hi\n") {
					t.Errorf("output %q", rec.text())
				}
			})
		}
		// A descendant that leaves the process group and keeps stdout
		// open cannot be killed with it, but must not hang the run.
		start := time.Now()
		resp, _ := mustRun(t, r, &Request{Code: `
import subprocess
p = subprocess.Popen(["sleep", "1000"], start_new_session=True)
set_output(p.pid)`})
		if d := time.Since(start); d > prompt {
			t.Errorf("escaped grandchild: took %v", d)
		}
		if pid, ok := resp.Value.(int64); ok {
			_ = unix.Kill(int(pid), unix.SIGKILL)
		}
	})
}

func TestIsolation(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		mustRun(t, r, &Request{Code: `
import json, builtins, threading, time, sys
json.dumps = lambda *a, **k: "pwned"
json.loads = lambda *a, **k: {"pwned": True}
builtins.LEAK = vault["S"]
json.LEAK = vault["S"]
sys.modules["leak"] = vault
def spy():
    while True:
        time.sleep(0.01)
threading.Thread(target=spy, daemon=False).start()
set_output(json.dumps(1))`, Vault: map[string]string{"S": "secret-value-1"}})
		resp, _ := mustRun(t, r, &Request{Code: `
import json, builtins, sys, threading
set_output({
    "dumps": json.dumps([1]),
    "builtin": hasattr(builtins, "LEAK"),
    "module": hasattr(json, "LEAK"),
    "sysmod": "leak" in sys.modules,
    "threads": threading.active_count(),
})`})
		want := map[string]any{"dumps": "[1]", "builtin": false, "module": false, "sysmod": false, "threads": int64(1)}
		if fmt.Sprint(resp.Value) != fmt.Sprint(want) {
			t.Fatalf("second block sees %v", resp.Value)
		}
	})
}

func TestSecretNotInProc(t *testing.T) {
	const secret = "s3cr3t-canary-7d41"
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, _ := mustRun(t, r, &Request{
			Code: `
import os
set_output({
    "cmdline": open("/proc/self/cmdline", "rb").read().decode("utf-8", "replace"),
    "environ": open("/proc/self/environ", "rb").read().decode("utf-8", "replace"),
    "parent_cmdline": open("/proc/%d/cmdline" % os.getppid(), "rb").read().decode("utf-8", "replace"),
    "seen": vault["KEY"],
})`,
			Vault: map[string]string{"KEY": secret},
		})
		v := resp.Value.(map[string]any)
		if v["seen"] != secret {
			t.Fatalf("vault not passed: %v", v["seen"])
		}
		for _, k := range []string{"cmdline", "environ", "parent_cmdline"} {
			if strings.Contains(v[k].(string), secret) {
				t.Errorf("secret in /proc/self/%s", k)
			}
		}
		if r.Mode() == ModeForkServer {
			r.mu.Lock()
			srv := r.srv
			r.mu.Unlock()
			if srv == nil {
				t.Fatal("no fork server")
			}
			for _, f := range []string{"cmdline", "environ"} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", srv.pid(), f))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("secret in fork server's %s", f)
				}
			}
		}
	})
}

// TestVaultEnvStripped is not parallel: it sets the environment.
func TestVaultEnvStripped(t *testing.T) {
	const canary = "vault-key-canary-93ab"
	t.Setenv("BP_VAULT_KEY", canary)
	t.Setenv("BP_VAULT_PASSPHRASE", canary)
	t.Setenv("BP_SERVER_TOKEN", canary)
	t.Setenv("BP_HISTORY", "/where/bp/keeps/history.db")
	t.Setenv("OTHER_VAR", "kept")
	for _, m := range []Mode{ModeForkServer, ModeFresh} {
		t.Run(m.String(), func(t *testing.T) {
			r, err := New(inTemp(Options{Mode: m, Env: []string{"BP_VAULT_X=" + canary, "EXTRA=1"}}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			resp, _ := mustRun(t, r, &Request{Code: `
import os
set_output(open("/proc/self/environ", "rb").read().decode())`})
			env := resp.Value.(string)
			if strings.Contains(env, canary) || strings.Contains(env, "BP_") {
				t.Errorf("a bp variable reached python: %q", env)
			}
			if !strings.Contains(env, "\x00TMPDIR="+r.tmp+"\x00") {
				t.Errorf("TMPDIR is not the runner's own: %q", env)
			}
			if !strings.Contains(env, "OTHER_VAR=kept") || !strings.Contains(env, "EXTRA=1") {
				t.Errorf("environment not passed")
			}
			if m == ModeForkServer {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", r.srv.pid()))
				if bytes.Contains(b, []byte(canary)) {
					t.Errorf("BP_VAULT_* in the fork server's environment")
				}
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		workers, per := 8, 4
		if r.Mode() == ModeFresh {
			per = 1
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers*per)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					n := w*100 + i
					rec := &recorder{}
					resp, err := r.Run(context.Background(), &Request{
						Code:  "print(state['n'])\nmask(vault['K'])\nstate['n'] += 1\nset_output(vault['K'])",
						State: map[string]any{"n": n},
						Vault: map[string]string{"K": fmt.Sprintf("secret-%d", n)},
					}, rec)
					switch {
					case err != nil:
						errs <- err
					case resp.Error != nil:
						errs <- resp.Error
					case resp.Value != fmt.Sprintf("secret-%d", n) || resp.State["n"] != int64(n+1) || rec.text() != fmt.Sprintf("%d\n", n):
						errs <- fmt.Errorf("block %d: value %v state %v output %q", n, resp.Value, resp.State, rec.text())
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestLargeData(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		big := strings.Repeat("x", 1<<20)
		resp, rec := mustRun(t, r, &Request{
			Code:    "print(len(payload))\nprint('y' * 200000)\nset_output(payload + 'z')",
			Payload: big,
		})
		if resp.Value != big+"z" {
			t.Errorf("value len %d", len(fmt.Sprint(resp.Value)))
		}
		if out := rec.text(); out != "1048576\n"+strings.Repeat("y", 200000)+"\n" {
			t.Errorf("output len %d", len(out))
		}
	})
}

func TestServerRestart(t *testing.T) {
	r, err := New(inTemp(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		r.mu.Lock()
		srv := r.srv
		r.mu.Unlock()
		if err := unix.Kill(srv.pid(), unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-srv.dead
		resp, _ := mustRun(t, r, &Request{Code: "set_output(2)"})
		if resp.Value != int64(2) {
			t.Fatalf("value %v", resp.Value)
		}
		r.mu.Lock()
		srv2 := r.srv
		r.mu.Unlock()
		if srv2 == srv || srv2.isDead() {
			t.Fatal("fork server not restarted")
		}
	}
	// A block in flight when its server dies dies with it (nothing a fork
	// server started outlives it) and says so at once; the next block runs.
	if err := r.Start(context.Background()); err != nil { // the block forked, not fresh
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, _, err := run(t, r, &Request{Code: "import time\ntime.sleep(30)\nset_output('ok')"})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	_ = unix.Kill(srv.pid(), unix.SIGKILL)
	var ee *ExitError
	if err := <-done; !errors.As(err, &ee) {
		t.Fatalf("block in flight: %v", err)
	}
	if d := time.Since(start); d > prompt {
		t.Errorf("took %v", d)
	}
	if resp, _ := mustRun(t, r, &Request{Code: "set_output('ok')"}); resp.Value != "ok" {
		t.Fatalf("value %v", resp.Value)
	}
}

func TestClose(t *testing.T) {
	r, err := New(inTemp(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRun(t, r, &Request{Code: "pass"})
	pid := r.srv.pid()
	r.Close()
	waitGone(t, pid)
	if _, err := r.Run(context.Background(), &Request{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestResolve(t *testing.T) {
	r := runner(t, ModeFresh)
	if strings.Contains(r.Python(), "shims") || !strings.HasPrefix(r.Version(), "3.") {
		t.Errorf("python %s %s", r.Python(), r.Version())
	}
	if _, err := New(inTemp(Options{Python: "no-such-python-xyz"})); err == nil {
		t.Error("missing interpreter accepted")
	}
	r2, err := New(inTemp(Options{Python: r.Python()}))
	if err != nil || r2.Python() != r.Python() {
		t.Errorf("explicit path: %v %v", r2, err)
	}
}

func TestDeadSpare(t *testing.T) {
	r, err := New(inTemp(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := r.srv
	// Kill the spares waiting for blocks: the next block must still run.
	for i := 0; i < spareCount; i++ {
		select {
		case sp := <-srv.spares:
			_ = unix.Kill(sp.pid, unix.SIGKILL)
			waitGone(t, sp.pid)
			srv.spares <- sp
		case <-time.After(10 * time.Second):
			t.Fatal("no spare")
		}
	}
	resp, _ := mustRun(t, r, &Request{Code: "set_output(7)"})
	if resp.Value != int64(7) {
		t.Fatalf("value %v", resp.Value)
	}
}

func TestServerCannotStart(t *testing.T) {
	r, err := New(inTemp(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// An interpreter whose fork server exits at once: blocks run fresh.
	wrapper := t.TempDir() + "/python"
	script := "#!/bin/sh\nif [ \"$5\" = serve ]; then echo no fork server here >&2; exit 3; fi\nexec " + r.py.path + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	r.py.path = wrapper
	for i := 0; i < maxStartFailures; i++ {
		if err := r.Start(context.Background()); err == nil {
			t.Fatal("a server that exits at once started")
		}
		resp, _ := mustRun(t, r, &Request{Code: "set_output(5)"})
		if resp.Value != int64(5) {
			t.Fatalf("value %v", resp.Value)
		}
	}
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fork server unavailable") || !strings.Contains(err.Error(), "no fork server here") {
		t.Fatalf("Start: %v", err)
	}
}

// inTemp lets the blocks of a test's runner use the system's temporary
// directory, where the test keeps its files (t.TempDir).
func inTemp(o Options) Options {
	o.AllowWrite = append(o.AllowWrite, os.TempDir())
	return o
}

// TestBlockCannotBreakItsAnswer: a block that rebinds the builtins and json
// functions the harness uses still gets its output, state and value sent.
func TestBlockCannotBreakItsAnswer(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, rec := mustRun(t, r, &Request{Code: `
import builtins, json, os
print("before")
state["k"] = [1, 2.5, "x"]
set_output({"v": 7})
for name in ("len", "isinstance", "str", "bytes", "type", "dict", "list", "int", "repr", "memoryview", "open", "Exception", "BaseException", "TypeError"):
    setattr(builtins, name, None)
json.dumps = json.loads = None
json.JSONEncoder.encode = json.JSONEncoder.iterencode = None
json.encoder.c_make_encoder = None
os.write = os.closerange = os.kill = os.waitpid = os.listdir = None
`, State: map[string]any{}})
		if fmt.Sprint(resp.Value) != "map[v:7]" || fmt.Sprint(resp.State["k"]) != "[1 2.5 x]" {
			t.Fatalf("value %v, state %v", resp.Value, resp.State)
		}
		if rec.text() != "before\n" {
			t.Errorf("output %q", rec.text())
		}
	})
}

// TestFirstBlockDoesNotWaitForTheServer: a block that comes before the fork
// server is started or ready runs in a fresh process; the server then
// starts, and the next blocks are forked from it.
func TestFirstBlockDoesNotWaitForTheServer(t *testing.T) {
	r, err := New(inTemp(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const parent = `import os
set_output(open("/proc/%d/cmdline" % os.getppid(), "rb").read().split(b"\0")[-3].decode())`
	resp, _ := mustRun(t, r, &Request{Code: parent})
	if resp.Value != "child" {
		t.Fatalf("first block's parent runs %q, want a fresh block's supervisor", resp.Value)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, _ = mustRun(t, r, &Request{Code: parent})
	if resp.Value != "serve" {
		t.Fatalf("next block's parent runs %q, want the fork server", resp.Value)
	}
}
