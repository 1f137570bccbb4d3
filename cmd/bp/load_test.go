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
	"errors"
	"fmt"
	"io"
	"net"
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

// rssOf reads a process's resident set (VmRSS) and its peak (VmHWM), in
// bytes, from /proc.
func rssOf(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return rss, peak
}

// cpuOf is the CPU time a process has used, from /proc.
func cpuOf(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// TestLoadSlowBodiesWithoutToken: 5,000 connections without the token
// each declare a 100 KB body and trickle it. /healthz answers within 1s
// throughout, and every one of them is closed by the server well within
// the body deadline.
func TestLoadSlowBodiesWithoutToken(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "load-token-0123456789", "--dir", "flows")
	n := envInt("BP_LOAD_SLOW", 5000)
	addr := strings.TrimPrefix(p.url, "http://")
	cpu0 := cpuOf(t, p.cmd.Process.Pid)
	var (
		wg             sync.WaitGroup
		closedBy       = make(chan time.Duration, n)
		dialErrs, held atomic.Int64
		stop           = make(chan struct{})
		worst          atomic.Int64
		probes         atomic.Int64
	)
	// /healthz every 50ms, each with a fresh connection, from start to end.
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			t0 := time.Now()
			resp, err := client.Get(p.url + "/healthz")
			took := time.Since(t0)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("healthz failed after %s: %v", took, err)
			}
			if resp != nil {
				resp.Body.Close()
			}
			probes.Add(1)
			for {
				w := worst.Load()
				if int64(took) <= w || worst.CompareAndSwap(w, int64(took)) {
					break
				}
			}
		}
	}()
	start := time.Now()
	// Connections open at a steady rate (the attack is their number and
	// their slowness, not a connect storm, which the kernel's accept
	// queue meets first).
	rate := envInt("BP_LOAD_SLOW_RATE", 2000)
	for i := 0; i < n; i++ {
		if wait := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				dialErrs.Add(1)
				return
			}
			defer conn.Close()
			t0 := time.Now()
			fmt.Fprintf(conn, "POST /v1/blueprints/three/runs HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n", addr)
			// Trickle the body, a byte every 100ms, until the server
			// closes the connection or 20s pass.
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			readDone := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, conn)
				readDone <- err
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-readDone:
					// EOF, or a reset (the server closed with our bytes
					// unread): closed by the server. A timeout: held.
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						held.Add(1)
						return
					}
					closedBy <- time.Since(t0)
					return
				case <-tick.C:
					_, _ = conn.Write([]byte("x"))
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-probeDone
	close(closedBy)
	var closes []time.Duration
	for d := range closedBy {
		closes = append(closes, d)
	}
	slices.Sort(closes)
	last := time.Duration(0)
	if len(closes) > 0 {
		last = closes[len(closes)-1]
	}
	t.Logf("%d slow connections, %d/s, in %s (bp serve used %s of CPU): %d closed by the server (the last %s after its headers), %d held past 20s, %d dials failed; /healthz: %d probes, slowest %s",
		n, rate, time.Since(start).Round(time.Millisecond), cpuOf(t, p.cmd.Process.Pid)-cpu0, len(closes), last.Round(time.Millisecond), held.Load(), dialErrs.Load(), probes.Load(), time.Duration(worst.Load()).Round(time.Millisecond))
	if code, _, body := p.call("GET", "/metrics", "", true); code == 200 {
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "bp_http_connections") || strings.HasPrefix(line, "bp_http_requests_total{code=\"401\"") {
				t.Log(line)
			}
		}
	}
	if slowest := time.Duration(worst.Load()); slowest > time.Second {
		msg := fmt.Sprintf("target missed: /healthz took %s (want <= 1s)", slowest)
		if os.Getenv("BP_LOAD_STRICT") == "1" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	if held.Load() > 0 || len(closes)+int(dialErrs.Load()) != n {
		t.Errorf("%d connections were not closed by the server", n-len(closes))
	}
	if last > 30*time.Second {
		t.Errorf("a connection was closed after %s, past the body deadline", last)
	}
}

// TestLoadBigPayloads sends 32 runs of a 9 MB payload of 3M empty arrays
// at once, and states bp serve's peak resident memory, and its memory
// some seconds after.
func TestLoadBigPayloads(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/three.bp.yaml", threeBlocks)
	p := startServe(t, env, "load-token-0123456789", append([]string{"--dir", "flows"}, strings.Fields(os.Getenv("BP_LOAD_FLAGS"))...)...)
	pid := p.cmd.Process.Pid
	base, _ := rssOf(t, pid)
	payload := "[" + strings.Repeat("[],", 3_000_000-1) + "[]]"
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", p.url+"/v1/blueprints/three/runs?wait=1", strings.NewReader(payload))
			req.Header.Set("Authorization", "Bearer "+p.token)
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[0]++
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}()
	}
	wg.Wait()
	_, peak := rssOf(t, pid)
	time.Sleep(10 * time.Second)
	after, _ := rssOf(t, pid)
	t.Logf("32 runs of a %.1f MB payload (3M values): answers %v; RSS %d MB before, peak %d MB, %d MB ten seconds after",
		float64(len(payload))/1e6, statuses, base>>20, peak>>20, after>>20)
	if peak > 1<<30 {
		t.Errorf("peak RSS %d MB, more than 1 GB", peak>>20)
	}
}
