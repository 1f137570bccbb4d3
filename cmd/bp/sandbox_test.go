package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// exploits is a code block that tries every way back to bp's secrets that
// a blueprint's author could: bp's own CLI, its files, its process. Each
// attempt's outcome is reported reversed, as a block that means harm would
// send it, so that no scrubber could recognise it: the test asserts that
// none got anything.
const exploits = `
import ctypes, os, subprocess
got = {}
def parent(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
def find_bp():
    pid = os.getppid()
    for _ in range(4):
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "bp":
                return pid
        pid = parent(pid)
    return 0
bp = find_bp()
got["bp found"] = bp > 0
def attempt(name, f):
    try:
        v = f()
        got[name] = "GOT " + repr(v)[::-1]
    except BaseException as e:
        got[name] = "denied: %s: %s" % (type(e).__name__, str(e)[:300])
def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()
def cli(*args):
    p = subprocess.run(["bp"] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("exit %d: %s" % (p.returncode, p.stderr.strip()))
    return p.stdout
def ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(ctypes.c_long(16), ctypes.c_long(pid), None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return "attached"
def plant(path):
    with open(path, "w") as f:
        f.write("planted")
    return "written"
p = payload
attempt("bp vault get", lambda: cli("vault", "get", "FORBIDDEN", "--reveal"))
attempt("bp vault list", lambda: cli("vault", "list"))
attempt("key file", lambda: read(p["keyFile"]))
attempt("vault file", lambda: read(p["vault"]).hex())
attempt("history", lambda: read(p["history"]).hex())
attempt("config dir", lambda: os.listdir(p["config"]))
attempt("write config", lambda: plant(os.path.join(p["config"], "planted.py")))
attempt("bp environ", lambda: read("/proc/%d/environ" % bp))
attempt("bp mem", lambda: read("/proc/%d/mem" % bp))
# Its descriptors' numbers may be listed (root owns the directory); what
# they are (an open vault, a socket) must stay out of reach.
attempt("bp fds", lambda: [read("/proc/%d/fd/%s" % (bp, n))[:64] for n in os.listdir("/proc/%d/fd" % bp)])
attempt("bp fd links", lambda: [os.readlink("/proc/%d/fd/%s" % (bp, n)) for n in os.listdir("/proc/%d/fd" % bp)])
attempt("ptrace bp", lambda: ptrace(bp))
attempt("signal bp", lambda: os.kill(bp, 0))
got["bp variables"] = sorted(k for k in os.environ if k.startswith("BP_"))
got["vault"] = sorted(vault)
set_output(got)
`

// requireSandbox skips a test on a system where bp cannot confine code
// blocks (it warns there instead: TestSandboxWarning).
func requireSandbox(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("code blocks are confined on Linux only")
	}
	if v, err := ll.LandlockGetABIVersion(); err != nil || v < 1 {
		t.Skip("this kernel has no Landlock")
	}
}

// checkDenied asserts that every attempt of the exploits block was denied
// and that the secrets are in no output, in no form.
func checkDenied(t *testing.T, stdout, stderr string, secrets ...string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("return value: %v\n%s\n%s", err, stdout, stderr)
	}
	if got["bp found"] != true {
		t.Errorf("the block did not find bp's process: %v", got)
	}
	for name, v := range got {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if !strings.HasPrefix(s, "denied: ") {
			t.Errorf("%s: %s", name, s)
		}
	}
	if vars, _ := got["bp variables"].([]any); len(vars) != 0 {
		t.Errorf("bp's variables reached the block: %v", vars)
	}
	if vault, _ := got["vault"].([]any); len(vault) != 1 || vault[0] != "ALLOWED" {
		t.Errorf("the block's vault: %v", got["vault"])
	}
	all := stdout + stderr
	for _, secret := range secrets {
		rev := []byte(secret)
		slices.Reverse(rev)
		for _, form := range []string{
			secret, string(rev), base64.StdEncoding.EncodeToString([]byte(secret)),
			hex.EncodeToString([]byte(secret)), hex.EncodeToString(rev),
		} {
			if strings.Contains(all, form) {
				t.Fatalf("a secret came out (%q):\n%s\n%s", form, stdout, stderr)
			}
		}
	}
}

// sandboxEnv is a bp home with a vault of two secrets, and a blueprint
// beside it (so that the folder the blocks may read holds bp's files) that
// may read only one of them.
func sandboxEnv(t *testing.T) (e *bpEnv, path string, payload map[string]string) {
	t.Helper()
	e = newBPEnv(t)
	e = e.with("PATH=" + filepath.Dir(bpBinary) + string(os.PathListSeparator) + os.Getenv("PATH"))
	wantCode(t, e.run("", "vault", "init"), 0)
	wantCode(t, e.run("allowed-value-1f3c", "vault", "set", "ALLOWED"), 0)
	wantCode(t, e.run("FORBIDDEN-value-9d2e", "vault", "set", "FORBIDDEN"), 0)
	path = e.write("greedy.bp.yaml", `
key: greedy
vault: [ALLOWED]
blocks:
  start: {type: apitrigger, outs: {trigger: py}}
  py:
    type: code
    fields:
      code: |
`+indentBy(exploits, "        ")+`
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	config := filepath.Join(e.home, "config", "bp")
	payload = map[string]string{
		"keyFile": filepath.Join(config, "vault.key"),
		"vault":   filepath.Join(e.home, "data", "bp", "vault.db"),
		"history": filepath.Join(e.home, "data", "bp", "history.db"),
		"config":  config,
	}
	return e, path, payload
}

func indentBy(s, prefix string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// TestCodeBlockCannotReachBPSecrets: a blueprint may read ALLOWED only; its
// code block tries bp's CLI, key file, vault, history, configuration,
// process memory and environment, ptrace and signals, in both Python modes
// and with the key in a file or in the environment. Each attempt fails
// inside the block, and neither the other secret nor the key comes out.
func TestCodeBlockCannotReachBPSecrets(t *testing.T) {
	requireSandbox(t)
	e, path, payload := sandboxEnv(t)
	keyText, err := os.ReadFile(payload["keyFile"])
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyText))
	body, _ := json.Marshal(payload)
	// bp itself on the block's PATH, and runnable there, as when it is
	// installed system-wide.
	allowBP := "--python-allow-read=" + filepath.Dir(bpBinary)
	for _, mode := range []string{"fork", "fresh"} {
		t.Run(mode+"/key file", func(t *testing.T) {
			r := e.run("", "run", path, "--python-mode", mode, "--python-sandbox", "require", allowBP, "--payload", string(body))
			wantCode(t, r, 0)
			checkDenied(t, r.stdout, r.stderr, "FORBIDDEN-value-9d2e", key)
			if _, err := os.Stat(filepath.Join(payload["config"], "planted.py")); err == nil {
				t.Error("the block wrote into bp's configuration directory")
			}
		})
	}
	// The key in bp's environment instead: bp's /proc/PID/environ still
	// holds it after Go's Unsetenv, so only the sandbox keeps it.
	if err := os.Rename(payload["keyFile"], payload["keyFile"]+".away"); err != nil {
		t.Fatal(err)
	}
	env := e.with("BP_VAULT_KEY=" + key)
	for _, mode := range []string{"fork", "fresh"} {
		t.Run(mode+"/key in the environment", func(t *testing.T) {
			r := env.run("", "run", path, "--python-mode", mode, "--python-sandbox", "require", allowBP, "--payload", string(body))
			wantCode(t, r, 0)
			checkDenied(t, r.stdout, r.stderr, "FORBIDDEN-value-9d2e", key)
		})
	}
}

// TestServeCodeBlockCannotReadToken: under bp serve, a code block cannot
// read the server's token from bp's environment, so it cannot call the
// server's API as its clients do.
func TestServeCodeBlockCannotReadToken(t *testing.T) {
	requireSandbox(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := newBPEnv(t).with("BP_VAULT_KEY=" + base64.StdEncoding.EncodeToString(key))
	env.write("flows/thief.bp.yaml", `
key: thief
blocks:
  start: {type: apitrigger, outs: {trigger: py}}
  py:
    type: code
    fields:
      code: |
        import os
        got = {}
        pid = os.getppid()
        for _ in range(3):
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    got[str(pid)] = f.read().decode(errors="replace")[::-1]
            except OSError as e:
                got[str(pid)] = "denied: " + type(e).__name__
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        got["env"] = [k for k in os.environ if k.startswith("BP_")]
        set_output(got)
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	const token = "serve-token-4c1d-REVERSEME"
	p := startServe(t, env, token, "--dir", "flows", "--python-sandbox", "require")
	code, _, body := p.call("POST", "/v1/blueprints/thief/runs?wait=1", "", true)
	if code != 200 {
		t.Fatalf("run: %d %s", code, body)
	}
	rev := []byte(token)
	slices.Reverse(rev)
	if strings.Contains(body, token) || strings.Contains(body, string(rev)) || strings.Contains(body, "EMESREVER") {
		t.Fatalf("the token came out:\n%s", body)
	}
	if !strings.Contains(body, "denied: PermissionError") {
		t.Fatalf("no attempt was denied:\n%s", body)
	}
}

// TestSandboxFlags: the modes and sizes are checked before anything runs.
func TestSandboxFlags(t *testing.T) {
	e := newBPEnv(t)
	path := e.write("ok.bp.yaml", "blocks: {r: {type: returnvalue, fields: {value: ok}}}")
	for _, args := range [][]string{
		{"--python-sandbox", "maybe"},
		{"--python-memory", "lots"},
		{"--python-memory", "-1GiB"},
	} {
		r := e.run("", append([]string{"run", path}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("%v: %v", args, r)
		}
	}
	for _, size := range []string{"512MiB", "2G", "0", "none", "1073741824"} {
		wantCode(t, e.run("", "run", path, "--python-memory", size), 0)
	}
}

// TestMemoryLimitEndsBlockWithError: a block that allocates past its limit
// ends with outcome error and a message that names the limit; a run that
// wires error goes on.
func TestMemoryLimitEndsBlockWithError(t *testing.T) {
	e := newBPEnv(t)
	path := e.write("hungry.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: eat}}
  eat:
    type: code
    fields: {code: "x = bytearray(600 << 20)"}
    outs: {success: full, error: recover}
  full: {type: returnvalue, fields: {value: ate}}
  recover: {type: returnvalue, fields: {value: "recovered: @{message}"}}
`)
	for _, mode := range []string{"fork", "fresh"} {
		r := e.run("", "run", path, "--python-mode", mode, "--python-memory", "256MiB")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "recovered") || !strings.Contains(r.stdout, "MemoryError") || !strings.Contains(r.stdout, "256 MiB") {
			t.Errorf("%s: %v", mode, r)
		}
	}
}

// TestSandboxWarning: code blocks that run unconfined say so, once per
// run, on stderr and in the JSON log.
func TestSandboxWarning(t *testing.T) {
	e := newBPEnv(t)
	path := e.write("two.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: a}}
  a: {type: code, fields: {code: "set_output(1)"}, outs: {success: b}}
  b: {type: code, fields: {code: "set_output(2)"}}
`)
	r := e.run("", "run", path, "--python-sandbox", "off")
	wantCode(t, r, 0)
	if n := strings.Count(r.stderr, "code blocks are not fully sandboxed: the sandbox is turned off"); n != 1 {
		t.Errorf("%d warnings:\n%s", n, r.stderr)
	}
	r = e.run("", "run", path, "--python-sandbox", "off", "--log", "json")
	wantCode(t, r, 0)
	if n := strings.Count(r.stderr, `"event":"run.warning"`); n != 1 || !strings.Contains(r.stderr, "not fully sandboxed") {
		t.Errorf("JSON log:\n%s", r.stderr)
	}
	if runtime.GOOS == "linux" {
		if v, err := ll.LandlockGetABIVersion(); err == nil && v >= 1 {
			r = e.run("", "run", path)
			wantCode(t, r, 0)
			if strings.Contains(r.stderr, "sandboxed") {
				t.Errorf("a warning where the sandbox holds:\n%s", r.stderr)
			}
		}
	}
}

// TestServeTokenFileIsDeniedToBlocks: the token bp serve made is out of a
// code block's reach even in the folder the blocks may read.
func TestServeTokenFileIsDeniedToBlocks(t *testing.T) {
	requireSandbox(t)
	env := newBPEnv(t)
	tokenFile := filepath.Join(env.home, "flows", "serve-token")
	env.write("flows/peek.bp.yaml", `
key: peek
blocks:
  start: {type: apitrigger, outs: {trigger: py}}
  py:
    type: code
    fields:
      code: |
        got = {}
        for name in ("token", "blueprint"):
            try:
                with open(payload[name]) as f:
                    got[name] = "read %d bytes" % len(f.read())
            except OSError as e:
                got[name] = "denied: " + type(e).__name__
        set_output(got)
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	p := startServe(t, env, "", "--dir", "flows", "--token-file", tokenFile)
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))
	body, _ := json.Marshal(map[string]string{"token": tokenFile, "blueprint": filepath.Join(env.home, "flows", "peek.bp.yaml")})
	code, _, answer := p.call("POST", "/v1/blueprints/peek/runs?wait=1", string(body), true)
	if code != 200 || !strings.Contains(answer, `"token":"denied: PermissionError"`) || !strings.Contains(answer, `"blueprint":"read `) {
		t.Fatalf("run: %d\n%s", code, answer)
	}
	if strings.Contains(answer, p.token) {
		t.Fatal("the token came out")
	}
}
