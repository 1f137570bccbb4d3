package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bprun/bp/internal/leaktest"
)

// TestClusterUnderFaults runs open-loop load through 2 API replicas and 3
// workers on a 3-node NATS cluster (every stream replicated 3 times),
// SIGKILLs a worker, shuts down the queue's stream leader, then restarts
// both. Every run must end with exactly one record equal to a run never
// interrupted, no duplicate submission may start a run, a block may run
// at most twice, and no store may hold the vault's value. 6 s of load by
// default; BP_FAULT_LONG=1 runs the 60 s.
func TestClusterUnderFaults(t *testing.T) {
	load, rate := 6*time.Second, 8.0
	if os.Getenv("BP_FAULT_LONG") == "1" {
		load, rate = 60*time.Second, 20.0
	}
	if testing.Short() {
		load = 3 * time.Second
	}
	cl := startNATSCluster(t)

	var mu sync.Mutex
	byKey := map[string]int{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		byKey[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // blocks in flight when the faults come
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "auth": %q}`, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer target.Close()

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
  login: {type: httprequest, fields: {url: "`+target.URL+`/login", headers: {Authorization: "Bearer @{vault.TOKEN}"}, timeout: 20s}, outs: {success: each}}
  each: {type: foreach, fields: {items: "[1, 2]"}, outs: {loop: item, success: py}}
  item: {type: httprequest, fields: {url: "`+target.URL+`/item?i=@{item}", timeout: 20s}}
  py:
    type: code
    fields:
      code: |
        print("token", vault["TOKEN"])
        set_output({"items": len(result), "auth": results["login"]["body"]["auth"], "n": payload["n"]})
    outs: {success: last}
  last: {type: httprequest, fields: {url: "`+target.URL+`/last", timeout: 20s}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{results.py}"}}
`)
	dir := filepath.Join(env.home, "flows")
	nats := []string{"--dir", dir, "--nats", cl.url(), "--nats-replicas", "3", "--nats-ack-wait", "2s"}
	token := "tok-" + base64.RawURLEncoding.EncodeToString(key[:9])
	apis := []*serveProc{startServe(t, env, token, nats...), startServe(t, env, token, nats...)}
	workers := []*workerProc{}
	for range 3 {
		workers = append(workers, startWorker(t, env, append(nats, "--runs", "8")...))
	}

	// submit POSTs a run with its Idempotency-Key, retrying (the same key)
	// while the cluster elects a leader.
	submit := func(api *serveProc, idem string, n int) (string, error) {
		var last string
		for attempt := 0; attempt < 40; attempt++ {
			req, _ := http.NewRequest("POST", api.url+"/v1/blueprints/six/runs", strings.NewReader(fmt.Sprintf(`{"n": %d}`, n)))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Idempotency-Key", idem)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 202 {
					var body struct{ Run string }
					if err := json.Unmarshal(b, &body); err != nil {
						return "", err
					}
					return body.Run, nil
				}
				last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			} else {
				last = err.Error()
			}
			time.Sleep(250 * time.Millisecond)
		}
		return "", fmt.Errorf("POST %s: %s", idem, last)
	}
	record := func(id string) (map[string]any, bool) {
		code, _, body := apis[1].call("GET", "/v1/runs/"+id, "", true)
		if code != 200 || strings.Contains(body, `"queued"`) || strings.Contains(body, `"running"`) {
			return nil, false
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(body), &rec); err != nil {
			t.Fatal(err)
		}
		return rec, true
	}
	wait := func(id string, within time.Duration) map[string]any {
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if rec, ok := record(id); ok {
				return rec
			}
		}
		return nil
	}
	// summary is what a run's record says of its blocks, without times.
	summary := func(id string) string {
		_, _, body := apis[0].call("GET", "/v1/runs/"+id+"/events", "", true)
		var evs []struct{ Event, Scope, Block, Status, Outcome string }
		if err := json.Unmarshal([]byte(body), &evs); err != nil {
			t.Fatalf("events of %s: %v", id, err)
		}
		var lines []string
		for _, e := range evs {
			if e.Event == "block.finished" {
				lines = append(lines, e.Scope+"/"+e.Block+" "+e.Status+" "+e.Outcome)
			}
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}

	golden, err := submit(apis[0], "golden", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rec := wait(golden, 120*time.Second); rec == nil || rec["status"] != "returned" {
		t.Fatalf("the golden run: %v", rec)
	}
	goldenSummary := summary(golden)

	type sub struct {
		idem string
		n    int
		ids  [2]string
		at   time.Time
	}
	var (
		subsMu sync.Mutex
		subs   []*sub
		wg     sync.WaitGroup
	)
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	killedAt, leaderAt, restartAt := load/3, load/2, load*3/4
	var killed, leaderDown, restarted bool
	var leader *natsNode
	for i := 0; time.Since(start) < load; i++ {
		<-tick.C
		el := time.Since(start)
		switch {
		case !killed && el >= killedAt:
			killed = true
			if err := workers[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			t.Logf("%v: worker 0 killed", el.Round(time.Millisecond))
		case !leaderDown && el >= leaderAt:
			leaderDown = true
			if leader = cl.streamLeader(t, "BP_RUNS"); leader != nil {
				leader.stop()
				t.Logf("%v: stream leader of BP_RUNS shut down", el.Round(time.Millisecond))
			}
		case !restarted && el >= restartAt:
			restarted = true
			if leader != nil {
				leader.restart()
			}
			workers[0] = startWorker(t, env, append(nats, "--runs", "8")...)
			t.Logf("%v: worker and node restarted", el.Round(time.Millisecond))
		}
		s := &sub{idem: fmt.Sprintf("load-%d", i), n: i + 1, at: time.Now()}
		subsMu.Lock()
		subs = append(subs, s)
		subsMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each run is submitted twice, to both replicas, as a client
			// that retries would.
			for r := range 2 {
				id, err := submit(apis[r], s.idem, s.n)
				if err != nil {
					t.Error(err)
					return
				}
				s.ids[r] = id
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	var latencies []time.Duration
	for _, s := range subs {
		if s.ids[0] != s.ids[1] {
			t.Errorf("%s: submitted twice, runs %s and %s", s.idem, s.ids[0], s.ids[1])
			continue
		}
		rec := wait(s.ids[0], 180*time.Second)
		if rec == nil {
			t.Errorf("%s: run %s never recorded", s.idem, s.ids[0])
			continue
		}
		latencies = append(latencies, time.Since(s.at))
		ret, _ := rec["return"].(map[string]any)
		if rec["status"] != "returned" || ret["n"] != float64(s.n) || ret["items"] != 2.0 || ret["auth"] != "Bearer ***" {
			t.Errorf("%s: %v", s.idem, rec)
			continue
		}
		if got := summary(s.ids[0]); got != goldenSummary {
			t.Errorf("%s: its record's blocks differ from a run never interrupted:\n%s\nwant:\n%s", s.idem, got, goldenSummary)
		}
	}
	elapsed := time.Since(start)

	mu.Lock()
	runs := map[string]bool{}
	twice := 0
	for k, n := range byKey {
		runs[strings.SplitN(k, "/", 2)[0]] = true
		if n > 2 {
			t.Errorf("block %s ran %d times", k, n)
		}
		if n > 1 {
			twice++
		}
	}
	mu.Unlock()
	if len(runs) != len(subs)+1 {
		t.Errorf("%d runs called the target, %d were submitted (and the golden one)", len(runs), len(subs))
	}
	// At most the blocks in flight at the two faults: 3 workers of 8 runs,
	// one HTTP block in flight per run.
	if twice > 2*3*8 {
		t.Errorf("%d blocks ran twice, more than were in flight at the faults", twice)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		t.Logf("%d runs (each submitted twice) in %v: %.1f runs/s; submission to record p50 %v, p99 %v; %d blocks ran twice",
			len(subs), elapsed.Round(time.Millisecond), float64(len(subs))/elapsed.Seconds(),
			latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)*99/100].Round(time.Millisecond), twice)
	}

	dirs := append([]string{filepath.Join(env.home, "data")}, cl.dirs()...)
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || strings.HasSuffix(path, "vault.db") {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil {
				if f, ok := leaktest.Find(string(b), clusterSecret); ok {
					t.Errorf("%s holds the secret (as %q)", path, f)
				}
			}
			return nil
		})
	}
}
