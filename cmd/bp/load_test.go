//go:build load

package main

// The load tests of bp serve: the real binary on loopback, many clients,
// every run checked by id in the history afterwards. They take minutes
// and the whole machine, so they run only with -tags load:
//
//	go test -tags load -run Load -v -timeout 30m ./cmd/bp
//
// BP_LOAD_RUNS and BP_LOAD_CLIENTS change the size; BP_LOAD_STRICT=1 fails
// the test when the targets (2,000 runs/s, p99 50 ms) are missed, instead
// of only reporting the figures (the machine is shared and noisy).

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadResult is what one load run measured.
type loadResult struct {
	runs      int
	wall      time.Duration
	latencies []time.Duration
	ids       []string
	statuses  map[int]int
	failures  []string
}

func (r *loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

func (r *loadResult) String() string {
	return fmt.Sprintf("%d runs in %s: %.0f runs/s; latency p50 %s, p90 %s, p99 %s, max %s; answers %v; %d failures",
		r.runs, r.wall.Round(time.Millisecond), float64(len(r.ids))/r.wall.Seconds(),
		r.percentile(0.50).Round(time.Microsecond*10), r.percentile(0.90).Round(time.Microsecond*10),
		r.percentile(0.99).Round(time.Microsecond*10), r.percentile(1).Round(time.Microsecond*10), r.statuses, len(r.failures))
}

// drive sends total runs of a blueprint through POST ?wait=1 from
// clients goroutines, each one request at a time over keep-alive
// connections.
func drive(t *testing.T, p *serveProc, key string, total, clients int, payload func(i int) string) *loadResult {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	res := &loadResult{runs: total, statuses: map[int]int{}}
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				req, _ := http.NewRequest("POST", p.url+"/v1/blueprints/"+key+"/runs?wait=1", strings.NewReader(payload(i)))
				req.Header.Set("Authorization", "Bearer "+p.token)
				t0 := time.Now()
				resp, err := client.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				took := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					res.failures = append(res.failures, err.Error())
				default:
					res.statuses[resp.StatusCode]++
					id, status, ok := streamResult(string(body))
					if resp.StatusCode != 200 || !ok || status != "returned" || strings.Contains(string(body), "history_error") {
						res.failures = append(res.failures, fmt.Sprintf("%d %.300s", resp.StatusCode, body))
					} else {
						res.ids = append(res.ids, id)
						res.latencies = append(res.latencies, took)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// checkRecorded stops the server and checks by id that history holds
// every run it answered.
func checkRecorded(t *testing.T, env *bpEnv, p *serveProc, res *loadResult) {
	t.Helper()
	if code := p.stop(); code != 0 {
		t.Errorf("bp serve exit %d:\n%.2000s", code, p.stderr.String())
	}
	r := env.run("", "runs", "list", "--limit", "0")
	if r.code != 0 {
		t.Fatalf("%.2000s", r)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(r.stdout, "\n")[1:] {
		if id, _, ok := strings.Cut(line, " "); ok {
			listed[id] = true
		}
	}
	missing := 0
	for _, id := range res.ids {
		if !listed[id] {
			missing++
		}
	}
	t.Logf("history holds %d runs; %d of the %d answered are missing", len(listed), missing, len(res.ids))
	if missing > 0 || len(res.ids) != res.runs || len(res.failures) > 0 {
		t.Errorf("answered %d of %d, %d not recorded; failures: %.5v", len(res.ids), res.runs, missing, res.failures)
	}
}

func reportTargets(t *testing.T, res *loadResult, minRate float64, maxP99 time.Duration) {
	t.Helper()
	rate := float64(len(res.ids)) / res.wall.Seconds()
	t.Logf("%s", res)
	if rate < minRate || res.percentile(0.99) > maxP99 {
		msg := fmt.Sprintf("targets missed: %.0f runs/s (want >= %.0f), p99 %s (want <= %s)", rate, minRate, res.percentile(0.99), maxP99)
		if os.Getenv("BP_LOAD_STRICT") == "1" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// TestLoadThreeBlocks is issue 9's check: 10,000 runs of setstate →
// ifelse → returnvalue from 32 clients, history on.
func TestLoadThreeBlocks(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "load-token-0123456789", append([]string{"--dir", "flows"}, strings.Fields(os.Getenv("BP_LOAD_FLAGS"))...)...)
	runs, clients := envInt("BP_LOAD_RUNS", 10000), envInt("BP_LOAD_CLIENTS", 32)
	// A short warm-up: connections, the first compile, the history file.
	drive(t, p, "three", 200, clients, func(i int) string { return `{"n": 1}` })
	res := drive(t, p, "three", runs, clients, func(i int) string { return fmt.Sprintf(`{"n": %d}`, i) })
	reportTargets(t, res, 2000, 50*time.Millisecond)
	checkRecorded(t, env, p, res)
}

const pythonBlocks = `
key: py
blocks:
  start: {type: apitrigger, outs: {trigger: keep}}
  keep: {type: setstate, fields: {element: n, value: "@{payload.n}"}, outs: {success: double}}
  double: {type: code, fields: {code: "set_output(state['n'] * 2)"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`

// TestLoadPythonBlock is the same with one Python block: no run lost;
// its figures stand beside the fork cost in BENCHMARKS.md.
func TestLoadPythonBlock(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/py.bp.yaml", pythonBlocks)
	p := startServe(t, env, "load-token-0123456789", append([]string{"--dir", "flows"}, strings.Fields(os.Getenv("BP_LOAD_FLAGS"))...)...)
	runs, clients := envInt("BP_LOAD_PY_RUNS", 2000), envInt("BP_LOAD_CLIENTS", 32)
	drive(t, p, "py", 50, clients, func(i int) string { return `{"n": 1}` })
	res := drive(t, p, "py", runs, clients, func(i int) string { return fmt.Sprintf(`{"n": %d}`, i) })
	t.Logf("%s", res)
	checkRecorded(t, env, p, res)
}
