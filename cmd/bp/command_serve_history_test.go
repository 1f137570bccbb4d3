package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const threeBlocks = `
key: three
blocks:
  start: {type: apitrigger, outs: {trigger: keep}}
  keep: {type: setstate, fields: {element: n, value: "@{payload.n}"}, outs: {success: check}}
  check: {type: ifelse, fields: {expression: "@{state.n > 0}"}, outs: {true: done, false: done}}
  done: {type: returnvalue, fields: {value: "@{state.n}"}}
`

// streamResult is the final "result" event of a ?wait=1 answer.
func streamResult(body string) (run, status string, ok bool) {
	i := strings.LastIndex(body, "event: result\ndata: ")
	if i < 0 {
		return "", "", false
	}
	line, _, _ := strings.Cut(body[i+len("event: result\ndata: "):], "\n")
	var r struct{ Run, Status string }
	if json.Unmarshal([]byte(line), &r) != nil {
		return "", "", false
	}
	return r.Run, r.Status, true
}

// TestServeKeepsEveryAnsweredRunAcrossAKill runs blueprints from several
// clients and kills bp serve with SIGKILL among them: every run it had
// answered as finished is in the history afterwards.
func TestServeKeepsEveryAnsweredRunAcrossAKill(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "kill-token-0123456789", "--dir", "flows", "--max-runs", "64")
	const clients, killAfter = 8, 120
	var (
		mu       sync.Mutex
		answered []string
		killed   = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				req, _ := http.NewRequest("POST", p.url+"/v1/blueprints/three/runs?wait=1", strings.NewReader(`{"n": 1}`))
				req.Header.Set("Authorization", "Bearer "+p.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				id, status, ok := streamResult(string(body))
				if err != nil || !ok {
					return
				}
				if status != "returned" {
					t.Errorf("run %s: %s", id, status)
				}
				mu.Lock()
				answered = append(answered, id)
				n := len(answered)
				mu.Unlock()
				if n == killAfter {
					once.Do(func() {
						_ = p.cmd.Process.Kill()
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	<-killed
	<-p.done
	r := env.run("", "runs", "list", "--limit", "0")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, id := range answered {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("run %s was answered as finished but is not in history", id)
		}
	}
	if len(answered) < killAfter {
		t.Errorf("only %d runs answered", len(answered))
	}
}

// TestRunsListWhileServeHoldsHistory: bp serve holds the history file;
// bp runs list says so instead of hanging.
func TestRunsListWhileServeHoldsHistory(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	startServe(t, env, "held-token-0123456789", "--dir", "flows")
	r := env.run("", "runs", "list")
	if r.code != exitRunFailed || !strings.Contains(r.stderr, "another bp process holds it") {
		t.Errorf("%v", r)
	}
}

func TestServeRefusesNegativeRetention(t *testing.T) {
	env := newBPEnv(t)
	for _, flag := range []string{"--keep-runs=-1", "--keep-for=-1h"} {
		r := env.run("", "serve", "--dir", env.home, flag)
		if r.code != exitUsage || !strings.Contains(r.stderr, "must not be negative") {
			t.Errorf("%s: %v", flag, r)
		}
	}
}

func TestServeLogsJSON(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "json-token-0123456789", "--dir", "flows", "--log", "json")
	if code, _, body := p.call("POST", "/v1/blueprints/three/runs?wait=1", `{"n": 2}`, true); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	p.stop()
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	sawRequest := false
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" && rec["path"] == "/v1/blueprints/three/runs" && rec["status"] == float64(200) {
			sawRequest = true
		}
	}
	if !sawRequest {
		t.Errorf("no request record:\n%s", p.stderr.String())
	}
	if r := env.run("", "serve", "--log", "yaml"); r.code != exitUsage {
		t.Errorf("--log yaml: %v", r)
	}
}

// TestServeWithoutTokenMakesOne: without BP_SERVER_TOKEN, bp serve makes a
// token in a file only its user can read, says where (never the token),
// and refuses requests without it, vault changes included; a second start
// reads the same file.
func TestServeWithoutTokenMakesOne(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "", "--dir", "flows")
	file := filepath.Join(env.home, "config", "bp", "serve-token")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	data, _ := os.ReadFile(file)
	p.token = strings.TrimSpace(string(data))
	if !strings.Contains(p.stderr.String(), file) || strings.Contains(p.stderr.String(), p.token) {
		t.Errorf("the log should name the file and not show the token:\n%s", p.stderr.String())
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/blueprints", ""}, {"PUT", "/v1/vault/PLANTED", "planted-value"}, {"POST", "/v1/blueprints/three/runs", `{"n": 1}`},
	} {
		if code, _, body := p.call(c.method, c.path, c.body, false); code != 401 {
			t.Errorf("%s %s without the token: %d %s", c.method, c.path, code, body)
		}
	}
	if code, _, body := p.call("GET", "/v1/blueprints", "", true); code != 200 {
		t.Errorf("with the token from the file: %d %s", code, body)
	}
	p.stop()
	again := startServe(t, env, "", "--dir", "flows")
	again.token = p.token
	if code, _, _ := again.call("GET", "/v1/blueprints", "", true); code != 200 || !strings.Contains(again.stderr.String(), "token=read") {
		t.Errorf("a second start does not use the same token: %d\n%s", code, again.stderr.String())
	}
	// A token file others can read is refused.
	again.stop()
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := env.run("", "serve", "--dir", "flows"); r.code != exitUsage || !strings.Contains(r.stderr, "other users may read it") {
		t.Errorf("a readable token file: %v", r)
	}
}
