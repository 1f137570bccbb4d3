package natsrun_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/natstest"
	"github.com/bprun/bp/natsrun"
	"github.com/bprun/bp/runner"
)

// tally tells when runs are recorded, and how long after their
// submission.
type tally struct {
	mu        sync.Mutex
	submitted map[string]time.Time
	latencies []time.Duration
	want      int
	done      chan struct{}
}

func (t *tally) p99() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := append([]time.Duration(nil), t.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)*99/100]
}

// countingHistory is a worker's history store, counted.
type countingHistory struct {
	runner.HistoryStore
	t *tally
}

func (h countingHistory) Save(ctx context.Context, rec *runner.RunRecord) error {
	err := h.HistoryStore.Save(ctx, rec)
	if err == nil {
		h.t.mu.Lock()
		h.t.latencies = append(h.t.latencies, time.Since(h.t.submitted[rec.ID]))
		if len(h.t.latencies) == h.t.want {
			close(h.t.done)
		}
		h.t.mu.Unlock()
	}
	return err
}

// node is what one process of the benchmark uses.
type node struct {
	queue   runner.Queue
	history runner.HistoryStore
	journal engine.Journal
	relay   runner.Relay
}

// benchRuns submits b.N runs of a one-HTTP-block blueprint from 8
// goroutines of one process and waits until workers workers (64 runs each,
// a connection each) have recorded every one.
func benchRuns(b *testing.B, connect func() node, workers int) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	dir := b.TempDir()
	bp := `
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call: {type: httprequest, fields: {url: "` + srv.URL + `/x"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result.body}"}}
`
	if err := os.WriteFile(filepath.Join(dir, "http.bp.yaml"), []byte(bp), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := blueprints.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	lib := runner.NewLibrary(set, reg)

	t := &tally{submitted: map[string]time.Time{}, want: b.N, done: make(chan struct{})}
	api := connect()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range workers {
		n := connect()
		w := &runner.Worker{Runner: runner.New(runner.Options{Library: lib, History: countingHistory{n.history, t}}),
			Queue: n.queue, Journal: n.journal, Relay: n.relay, Runs: 64}
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
	}
	prefix := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
	b.ResetTimer()
	start := time.Now()
	var subWG sync.WaitGroup
	for s := range 8 {
		subWG.Add(1)
		go func() {
			defer subWG.Done()
			for i := s; i < b.N; i += 8 {
				id := prefix + fmt.Sprint(i)
				t.mu.Lock()
				t.submitted[id] = time.Now()
				t.mu.Unlock()
				if err := api.queue.Submit(ctx, &runner.Job{RunID: id, Blueprint: "http"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	subWG.Wait()
	select {
	case <-t.done:
	case <-time.After(benchWait):
		b.Fatalf("only %d of %d runs recorded", len(t.latencies), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
	b.ReportMetric(float64(t.p99().Microseconds())/1000, "p99-ms")
	stop()
	wg.Wait()
}

// Runs through NATS JetStream (file store, one embedded node), by 2
// workers: queue, status, history and, with seal, a checkpoint per block.
func BenchmarkClusterRuns(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "journal=off"
		if sealed {
			name = "journal=sealed"
		}
		b.Run(name, func(b *testing.B) {
			srv := natstest.Start(b, "")
			cfg := natsrun.Config{URL: srv.URL()}
			if sealed {
				cfg.SealKey = make([]byte, 32)
			}
			var clusters []*natsrun.Cluster
			defer func() {
				for _, c := range clusters {
					c.Close()
				}
			}()
			benchRuns(b, func() node {
				c, err := natsrun.Connect(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				clusters = append(clusters, c)
				return node{c.Queue(), c.History(), c.Journal(), c.Relay()}
			}, 2)
		})
	}
}

// The same runs through the in-process queue and a bbolt history: what
// one bp serve does, the alternative to a cluster.
func BenchmarkInProcessRuns(b *testing.B) {
	q := &runner.MemoryQueue{}
	hist, err := runner.OpenBoltHistory(filepath.Join(b.TempDir(), "history.db"), runner.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer hist.Close()
	benchRuns(b, func() node { return node{queue: q, history: hist} }, 2)
}

var benchWait = 20 * time.Second
