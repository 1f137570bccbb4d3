package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bprun/bp/internal/leaktest"
)

// workerProc is a running bp worker.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	code   int
}

func startWorker(t *testing.T, env *bpEnv, args ...string) *workerProc {
	t.Helper()
	p := &workerProc{stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bpBinary, append([]string{"worker"}, args...)...)
	p.cmd.Env = env.vars
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
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// calls is a loopback API that counts each (run, block) call by the
// Idempotency-Key the block sends; /slow holds its first call until the
// caller goes away.
type calls struct {
	mu      sync.Mutex
	byKey   map[string]int
	slow    int
	entered chan struct{}
}

func newCalls(t *testing.T) (*calls, *httptest.Server) {
	c := &calls{byKey: map[string]int{}, entered: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.byKey[r.Header.Get("Idempotency-Key")]++
		hold := false
		if r.URL.Path == "/slow" {
			c.slow++
			hold = c.slow == 1
		}
		c.mu.Unlock()
		if hold {
			c.entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "auth": %q}`, r.URL.Path, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *calls) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.byKey {
		out[k] = v
	}
	return out
}

const clusterSecret = `cl-S3cr3t/+"&<x>`

// Two API replicas and a worker on an embedded NATS: a run submitted twice
// (same Idempotency-Key, two replicas) is one run; its worker is killed
// (SIGKILL) mid-run; another worker resumes it after its last checkpoint:
// no finished block runs again, the one in flight does; the run has one
// record, the same as a run never interrupted, and no store holds the
// secret in any form.
func TestWorkerKilledMidRunFinishesElsewhere(t *testing.T) {
	node := startNATS(t)
	calls, target := newCalls(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := newBPEnv(t).with("BP_VAULT_KEY=" + base64.StdEncoding.EncodeToString(key))
	if r := env.run(clusterSecret, "vault", "set", "TOKEN"); r.code != 0 {
		t.Fatal(r)
	}
	env.write("flows/six.bp.yaml", `
key: six
vault: [TOKEN]
blocks:
  start: {type: apitrigger, outs: {trigger: login}}
  login: {type: httprequest, fields: {url: "`+target.URL+`/login", headers: {Authorization: "Bearer @{vault.TOKEN}"}}, outs: {success: each}}
  each: {type: foreach, fields: {items: "[1, 2]"}, outs: {loop: item, success: py}}
  item: {type: httprequest, fields: {url: "`+target.URL+`/item?i=@{item}"}}
  py:
    type: code
    fields:
      code: |
        print("token", vault["TOKEN"])
        set_output({"items": len(result), "auth": results["login"]["body"]["auth"]})
    outs: {success: slow}
  slow: {type: httprequest, fields: {url: "`+target.URL+`/slow"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{results.py}"}}
`)
	dir := filepath.Join(env.home, "flows")
	nats := []string{"--nats", node.url(), "--nats-ack-wait", "1s"}
	token := "tok-" + base64.RawURLEncoding.EncodeToString(key[:9])
	apiA := startServe(t, env, token, append([]string{"--dir", dir}, nats...)...)
	apiB := startServe(t, env, token, append([]string{"--dir", dir}, nats...)...)
	workerA := startWorker(t, env, append([]string{"--dir", dir}, nats...)...)

	post := func(api *serveProc) string {
		t.Helper()
		req, _ := http.NewRequest("POST", api.url+"/v1/blueprints/six/runs", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", "order-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Run, Status string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 202 || body.Status != "queued" {
			t.Fatalf("POST: %d %+v %v", resp.StatusCode, body, err)
		}
		return body.Run
	}
	id := post(apiA)
	if again := post(apiB); again != id {
		t.Fatalf("the same Idempotency-Key gave runs %s and %s", id, again)
	}
	select {
	case <-calls.entered:
	case <-time.After(120 * time.Second):
		t.Fatalf("the run never reached its last HTTP block; worker:\n%s", workerA.stderr.String())
	}
	if code, _, body := apiB.call("GET", "/v1/runs/"+id, "", true); code != 200 || !strings.Contains(body, `"running"`) {
		t.Errorf("GET a run in progress on another replica: %d %s", code, body)
	}
	if err := workerA.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-workerA.done
	killed := time.Now()
	startWorker(t, env, append([]string{"--dir", dir}, nats...)...)

	var rec struct {
		Status string
		Return map[string]any
		Events []struct{ Event, Block, Scope, Stream, Message string }
	}
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, _, body := apiB.call("GET", "/v1/runs/"+id, "", true)
		if code == 200 && !strings.Contains(body, `"running"`) && !strings.Contains(body, `"queued"`) {
			if err := json.Unmarshal([]byte(body), &rec); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never finished: %d %s", code, body)
		}
	}
	t.Logf("failover: run recorded %v after the kill", time.Since(killed).Round(time.Millisecond))
	if rec.Status != "returned" || rec.Return["items"] != 2.0 || rec.Return["auth"] != "Bearer ***" {
		t.Fatalf("resumed run: %+v", rec)
	}
	got := calls.snapshot()
	want := map[string]int{id + "/login": 1, id + "/each[0]/item": 1, id + "/each[1]/item": 1, id + "/slow": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls by (run, block) %v, want %v: a checkpointed block ran again", got, want)
	}
	code, _, body := apiA.call("GET", "/v1/runs/"+id+"/events", "", true)
	if code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	var events []struct{ Event, Block, Scope, Stream, Message string }
	if err := json.Unmarshal([]byte(body), &events); err != nil {
		t.Fatal(err)
	}
	finished := map[string]int{}
	printed := 0
	for _, e := range events {
		if e.Event == "block.finished" {
			finished[e.Scope+"/"+e.Block]++
		}
		if e.Event == "block.output" && e.Block == "py" && strings.Contains(e.Message, "token ***") {
			printed++
		}
	}
	for _, b := range []string{"/login", "/each", "each[0]/item", "each[1]/item", "/py", "/slow", "/done"} {
		if finished[b] != 1 {
			t.Errorf("the record has %d block.finished of %s, want 1: %v", finished[b], b, finished)
		}
	}
	if printed != 1 {
		t.Errorf("the code block's output is in the record %d times, want 1 (replayed from its checkpoint)", printed)
	}

	// A run followed with ?wait=1 on a replica streams its events from
	// the worker, then its result.
	req, _ := http.NewRequest("POST", apiA.url+"/v1/blueprints/six/runs?wait=1", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var result string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "event: "); ok {
			kinds = append(kinds, k)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && len(kinds) > 0 && kinds[len(kinds)-1] == "result" {
			result = d
		}
	}
	resp.Body.Close()
	if len(kinds) < 3 || kinds[0] != "run.started" || kinds[len(kinds)-1] != "result" || !strings.Contains(result, `"returned"`) {
		t.Errorf("?wait=1 on a replica: %v %s", kinds, result)
	}

	// A replica's vault is read-only.
	if code, _, body := apiA.call("PUT", "/v1/vault/OTHER", "v", true); code != 403 || !strings.Contains(body, "replica") {
		t.Errorf("PUT on a replica: %d %s", code, body)
	}

	// A client's Idempotency-Key is bounded.
	req, _ = http.NewRequest("POST", apiA.url+"/v1/blueprints/six/runs", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", strings.Repeat("k", 257))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("a 257-byte Idempotency-Key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// No store holds the secret: NATS's files (checkpoints, history,
	// events), and every file the processes wrote.
	for _, d := range []string{node.cfg.Dir, filepath.Join(env.home, "data")} {
		_ = filepath.WalkDir(d, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || strings.HasSuffix(path, "vault.db") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err == nil {
				if f, ok := leaktest.Find(string(b), clusterSecret); ok {
					t.Errorf("%s holds the secret (as %q)", path, f)
				}
			}
			return nil
		})
	}
}

func TestWorkerNeedsNATS(t *testing.T) {
	r := newBPEnv(t).run("", "worker")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--nats") {
		t.Errorf("%v", r)
	}
}

// The same binaries against a stock nats-server from PATH (the one a user
// runs), not only the embedded one. Skipped where none is installed.
func TestWorkerWithStockNATSServer(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("no nats-server on PATH")
	}
	port := freeLoopbackAddr(t)[len("127.0.0.1:"):]
	store := t.TempDir()
	srv := exec.Command(bin, "-js", "-sd", store, "-a", "127.0.0.1", "-p", port)
	out := &lockedBuffer{}
	srv.Stderr, srv.Stdout = out, out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	url := "nats://127.0.0.1:" + port
	_, target := newCalls(t)
	env := newBPEnv(t)
	env.write("flows/hello.bp.yaml", `
key: hello
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call: {type: httprequest, fields: {url: "`+target.URL+`/hello"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result.body.path}"}}
`)
	dir := filepath.Join(env.home, "flows")
	// The server may take a moment to listen: the worker retries nothing,
	// so wait for the port first.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen:\n%s", out.String())
		}
	}
	api := startServe(t, env, "tok-stock", "--dir", dir, "--nats", url)
	w := startWorker(t, env, "--dir", dir, "--nats", url)
	code, _, body := api.call("POST", "/v1/blueprints/hello/runs?wait=1", "", true)
	if code != 200 || !strings.Contains(body, "event: result") || !strings.Contains(body, `"return":"/hello"`) {
		t.Fatalf("run through a stock nats-server: %d\n%s\nworker:\n%s", code, body, w.stderr.String())
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
		if w.code != 0 {
			t.Errorf("worker exited %d on SIGTERM:\n%s", w.code, w.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop on SIGTERM")
	}
}
