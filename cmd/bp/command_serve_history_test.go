package main

import (
	"encoding/json"
	"io"
	"net/http"
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
