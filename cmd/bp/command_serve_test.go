package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serveProc is a running bp serve.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *lockedBuffer
	url    string
	token  string
	done   chan struct{}
	code   int
}

// freeLoopbackAddr finds a port on 127.0.0.1 that is free now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServe starts bp serve on a free loopback port and waits until it
// answers /healthz.
func startServe(t *testing.T, env *bpEnv, token string, args ...string) *serveProc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addr := freeLoopbackAddr(t)
		p := &serveProc{t: t, stderr: &lockedBuffer{}, url: "http://" + addr, token: token, done: make(chan struct{})}
		p.cmd = exec.Command(bpBinary, append([]string{"serve", "--addr", addr}, args...)...)
		p.cmd.Env = append(append([]string(nil), env.vars...), "BP_SERVER_TOKEN="+token)
		p.cmd.Dir = env.home
		p.cmd.Stderr = p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := p.cmd.Wait()
			if ee, ok := err.(*exec.ExitError); ok {
				p.code = ee.ExitCode()
			}
			close(p.done)
		}()
		t.Cleanup(func() {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		})
		if p.waitHealthy() {
			return p
		}
		if attempt < 3 && strings.Contains(p.stderr.String(), "address already in use") {
			continue // another process took the port in between
		}
		t.Fatalf("bp serve did not come up (exit %d):\n%s", p.code, p.stderr.String())
	}
}

func (p *serveProc) waitHealthy() bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return false
		default:
		}
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(body)) == "ok" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// call sends a request with the token (when auth) and returns status and
// body.
func (p *serveProc) call(method, path, body string, auth bool) (int, http.Header, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// stop sends SIGTERM and returns the exit code.
func (p *serveProc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.code
	case <-time.After(15 * time.Second):
		p.t.Fatalf("bp serve did not stop on SIGTERM:\n%s", p.stderr.String())
		return -1
	}
}

func TestServeRefusesNonLoopbackWithoutToken(t *testing.T) {
	env := newBPEnv(t)
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		r := env.run("", "serve", "--addr", addr, "--dir", env.home)
		if r.code != exitUsage || !strings.Contains(r.stderr, addr) || !strings.Contains(r.stderr, "BP_SERVER_TOKEN") || strings.Contains(r.stderr, "serving") {
			t.Errorf("%v", r)
		}
	}
}

func TestServeHelp(t *testing.T) {
	r := newBPEnv(t).run("", "serve", "--help")
	for _, want := range []string{"BP_SERVER_TOKEN", "Examples:", "--addr", "--dir", "--vault", "--max-runs", "?wait=1"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q: %v", want, r)
		}
	}
}

const serveSecret = `srv-S3cr3t/+"&<x>`

func TestServeEndToEnd(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := newBPEnv(t).with("BP_VAULT_KEY=" + base64.StdEncoding.EncodeToString(key))
	env.write("flows/secretive.bp.yaml", `
key: secretive
description: prints and returns its secret
vault: [API_KEY]
blocks:
  start: {type: apitrigger, outs: {trigger: py}}
  py:
    type: code
    fields:
      code: |
        import base64, os
        print("key", vault["API_KEY"], base64.b64encode(vault["API_KEY"].encode()).decode())
        print("token", os.environ.get("BP_SERVER_TOKEN", "unset"))
        set_output({"key": vault["API_KEY"], "city": payload["city"]})
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	env.write("flows/sleepy.bp.yaml", `
key: sleepy
blocks:
  py: {type: code, fields: {code: "import time; print('sleeping'); time.sleep(60)"}}
`)
	p := startServe(t, env, "e2e-token-0123456789", "--dir", "flows")

	if code, _, _ := p.call("GET", "/v1/blueprints", "", false); code != 401 {
		t.Errorf("no token: %d", code)
	}
	code, _, body := p.call("GET", "/v1/blueprints", "", true)
	if code != 200 || !strings.Contains(body, `"secretive"`) || !strings.Contains(body, "prints and returns its secret") {
		t.Errorf("blueprints: %d %s", code, body)
	}
	// The vault is created on the first PUT (BP_VAULT_KEY is set).
	if code, _, body := p.call("PUT", "/v1/vault/API_KEY", serveSecret, true); code != 204 || body != "" {
		t.Fatalf("PUT: %d %s\n%s", code, body, p.stderr.String())
	}
	var answers []string
	code, hdr, body := p.call("POST", "/v1/blueprints/secretive/runs?wait=1", `{"city": "Oslo"}`, true)
	answers = append(answers, body)
	if code != 200 || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v\n%s", code, hdr, body)
	}
	frames := strings.Split(strings.TrimSpace(body), "\n\n")
	if !strings.HasPrefix(frames[0], "event: run.started\n") || !strings.HasPrefix(frames[len(frames)-1], "event: result\n") {
		t.Fatalf("stream order:\n%s", body)
	}
	var result struct {
		Run, Status string
		Return      map[string]any
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(frames[len(frames)-1], "event: result\ndata: ")), &result); err != nil {
		t.Fatal(err)
	}
	if result.Status != "returned" || result.Return["key"] != "***" || result.Return["city"] != "Oslo" {
		t.Errorf("result: %+v", result)
	}
	if !strings.Contains(body, `"message":"key *** ***\n"`) || !strings.Contains(body, "token unset") {
		t.Errorf("stream lacks the masked output:\n%s", body)
	}
	for _, path := range []string{"/v1/runs/" + result.Run, "/v1/runs/" + result.Run + "/events", "/v1/vault"} {
		code, _, body := p.call("GET", path, "", true)
		if code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
		answers = append(answers, body)
	}
	if !strings.Contains(answers[3], `"name":"API_KEY"`) {
		t.Errorf("vault list: %s", answers[3])
	}

	// A run in the background, cancelled by the shutdown.
	code, _, body = p.call("POST", "/v1/blueprints/sleepy/runs", "", true)
	if code != 202 {
		t.Fatalf("sleepy: %d %s", code, body)
	}
	var started struct{ Run string }
	_ = json.Unmarshal([]byte(body), &started)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, evs := p.call("GET", "/v1/runs/"+started.Run+"/events", "", true)
		if strings.Contains(evs, "sleeping") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sleepy run never printed:\n%s", evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	begin := time.Now()
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, p.stderr.String())
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	log := p.stderr.String()
	if !strings.Contains(log, "shutting down") || !strings.Contains(log, "method=POST path=/v1/blueprints/secretive/runs status=200") {
		t.Errorf("server log:\n%s", log)
	}
	answers = append(answers, log)
	// The history shows the cancelled run.
	if r := env.run("", "runs", "show", started.Run); r.code != 0 || !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("history of the cancelled run: %v", r)
	}

	j, _ := json.Marshal(serveSecret)
	forms := []string{serveSecret, string(j[1 : len(j)-1]), base64.StdEncoding.EncodeToString([]byte(serveSecret)), p.token}
	for _, a := range answers {
		for _, f := range forms {
			if strings.Contains(a, f) {
				t.Errorf("an answer holds the secret as %q:\n%s", f, a)
			}
		}
	}
}
