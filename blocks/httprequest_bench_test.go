package blocks_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
)

// httpNaive is the obvious alternative to a shared client: a fresh
// http.Client (and so a fresh connection) for every request.
type httpNaive struct{}

func (httpNaive) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "naivehttp", Fields: []engine.FieldSpec{{Name: "url", Required: true}}, Outcomes: []string{"success", "error"}}
}

func (httpNaive) Run(ctx context.Context, c *engine.Call) engine.Result {
	url, err := c.String("url")
	if err != nil {
		return engine.Failure(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return engine.Failure(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return engine.Failure(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(string(body))
}

// httpChain is a trigger leading to n httprequest blocks one after the
// other.
func httpChain(url string, n int) *engine.Blueprint {
	bp := &engine.Blueprint{Key: "chain", Source: "chain.bp.yaml", Blocks: []*engine.BlockSpec{httpBlk("start", "apitrigger", nil, "trigger>call0")}}
	for i := 0; i < n; i++ {
		var outs []string
		if i+1 < n {
			outs = []string{fmt.Sprintf("success>call%d", i+1)}
		}
		bp.Blocks = append(bp.Blocks, httpBlk(fmt.Sprintf("call%d", i), "httprequest", hf{"url": url}, outs...))
	}
	return bp
}

// BenchmarkHTTPFanOut runs a trigger fanning out to 100 httprequest
// blocks against a loopback server that answers after 50 ms. x-single is
// the median run's time over one request's (a one-block run);
// conns/op the TCP connections the server accepted per run.
func BenchmarkHTTPFanOut(b *testing.B) {
	const delay, fan = 50 * time.Millisecond, 100
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	env := newHTTPEnv(b, blocks.HTTPOptions{})
	env.reg.Register(httpNaive{})
	runOnce := func(b *testing.B, p *engine.Program) time.Duration {
		start := time.Now()
		res := p.Run(context.Background(), engine.RunOptions{Sink: engine.Discard})
		d := time.Since(start)
		if res.Status != engine.StatusCompleted {
			b.Fatalf("run %s: %v", res.Status, res.Err)
		}
		return d
	}

	// One request's time, through the engine, on a warm connection: the
	// median of 11 one-block runs, measured before each variant.
	single := env.compile(b, httpBP(hf{"url": srv.URL}, nil))
	median := func(times []time.Duration) time.Duration {
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		return times[len(times)/2]
	}
	singleTime := func(b *testing.B) time.Duration {
		var times []time.Duration
		for i := 0; i < 11; i++ {
			times = append(times, runOnce(b, single))
		}
		return median(times)
	}

	naive := httpFanOut(srv.URL, fan)
	for _, blk := range naive.Blocks[1:] {
		blk.Type = "naivehttp"
	}
	// The floor: the same requests from 100 goroutines with one plain
	// http.Client, without the engine or resty.
	floor := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer floor.CloseIdleConnections()
	b.Run("nethttp-floor", func(b *testing.B) {
		get := func() time.Duration {
			start := time.Now()
			resp, err := floor.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return time.Since(start)
		}
		var singles []time.Duration
		for i := 0; i < 11; i++ {
			singles = append(singles, get())
		}
		base := median(singles)
		var wg sync.WaitGroup
		for i := 0; i < fan; i++ { // warm the pool
			wg.Go(func() { get() })
		}
		wg.Wait()
		var times []time.Duration
		c0 := conns.Load()
		for b.Loop() {
			start := time.Now()
			for i := 0; i < fan; i++ {
				wg.Go(func() { get() })
			}
			wg.Wait()
			times = append(times, time.Since(start))
		}
		b.ReportMetric(float64(median(times))/float64(base), "x-single")
		b.ReportMetric(float64(conns.Load()-c0)/float64(len(times)), "conns/op")
	})

	for _, bc := range []struct {
		name  string
		bp    *engine.Blueprint
		limit float64 // most x-single allowed, 0: not checked
	}{
		{"shared-client", httpFanOut(srv.URL, fan), 1.3},
		{"fresh-client-per-request", naive, 0},
		{"sequential", httpChain(srv.URL, fan), 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := env.compile(b, bc.bp)
			base := singleTime(b)
			runOnce(b, p) // warm the pool
			var times []time.Duration
			c0 := conns.Load()
			for b.Loop() {
				times = append(times, runOnce(b, p))
			}
			// The median run, so that a run slowed by another process
			// on the machine does not decide.
			ratio := float64(median(times)) / float64(base)
			b.ReportMetric(ratio, "x-single")
			b.ReportMetric(float64(conns.Load()-c0)/float64(len(times)), "conns/op")
			if bc.limit > 0 && ratio > bc.limit {
				b.Logf("%d parallel requests took %.2f× one request (%s), more than %.1f×", fan, ratio, base, bc.limit)
			}
		})
	}
}
