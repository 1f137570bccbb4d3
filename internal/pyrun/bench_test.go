//go:build unix

package pyrun

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchPython is the interpreter the benchmarks use: $BP_PYTHON, as for
// bp itself, else python3.
var benchPython = os.Getenv("BP_PYTHON")

// cpuNow is the CPU time used so far by this process and its reaped
// descendants (the fork server and, through it, its children count once the
// server has been reaped, i.e. after Runner.Close).
func cpuNow() time.Duration {
	var self, ch unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &ch)
	tv := func(t unix.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(ch.Utime) + tv(ch.Stime)
}

// BenchmarkBlocks40 runs 40 sequential blocks (each `set_output(1)`), the
// shape of Windmill's public benchmark, per iteration, and reports per block
// the wall time (ns/block) and the CPU time of every process involved
// (cpu-ns/block, less the runner's own start and stop): fork server (a fresh
// forked process per block), fork server with IsolateRun (one process forked
// per run of 40 blocks), and a cold `python -I` process per block.
func BenchmarkBlocks40(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"forkserver", Options{Mode: ModeForkServer}},
		{"runisolation", Options{Mode: ModeForkServer, Isolation: IsolateRun}},
		{"fresh", Options{Mode: ModeFresh}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			opts := c.opts
			opts.Python = benchPython
			req := &Request{Code: "set_output(1)", Timeout: time.Minute}
			// The CPU cost of starting and stopping a runner, to subtract.
			c0 := cpuNow()
			r, err := New(inTemp(opts))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				b.Fatal(err)
			}
			r.Close()
			base := cpuNow() - c0

			c1 := cpuNow()
			r, err = New(inTemp(opts))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				req.Session = "run-" + strconv.Itoa(i) + "/"
				for j := 0; j < 40; j++ {
					resp, err := r.Run(ctx, req, nil)
					if err != nil {
						b.Fatal(err)
					}
					if resp.Value != int64(1) {
						b.Fatalf("value %v", resp.Value)
					}
				}
				r.EndSessions(req.Session)
			}
			wall := time.Since(start)
			b.StopTimer()
			r.Close()
			blocks := float64(b.N * 40)
			b.ReportMetric(float64(wall.Nanoseconds())/blocks, "ns/block")
			b.ReportMetric(float64((cpuNow()-c1-base).Nanoseconds())/blocks, "cpu-ns/block")
		})
	}
}

// startedRunner is a runner whose fork server is up, closed with b.
func startedRunner(b *testing.B, opts Options) *Runner {
	r, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkBlockIdle is the latency of one block when the runner is idle
// (a warm spare child is waiting): a blueprint's single code block.
func BenchmarkBlockIdle(b *testing.B) {
	r := startedRunner(b, Options{Python: benchPython})
	ctx := context.Background()
	req := &Request{Code: "set_output(1)", Timeout: time.Minute}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		time.Sleep(20 * time.Millisecond) // let the server fork and warm the next spare
		start := time.Now()
		if _, err := r.Run(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/block")
}

// BenchmarkForkFloor measures, for reference, what the machine charges for
// the bare minimum of a fresh process per block: os.fork + os._exit +
// waitpid in a loop inside one Python process started as the fork server
// is (-S, importing what it imports).
func BenchmarkForkFloor(b *testing.B) {
	r, err := New(inTemp(Options{Python: benchPython}))
	if err != nil {
		b.Fatal(err)
	}
	const script = `
import os, sys, time, gc, json, linecache, select, struct, _signal, _socket, _thread
gc.collect(); gc.freeze()
n = int(sys.argv[1])
t = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print(time.perf_counter() - t)
`
	loop := func(n int) (wall float64, cpu time.Duration) {
		c0 := cpuNow()
		out, err := exec.Command(r.Python(), "-I", "-S", "-c", script, strconv.Itoa(n)).Output()
		if err != nil {
			b.Fatal(err)
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatal(err)
		}
		return secs, cpuNow() - c0
	}
	_, base := loop(0)
	n := b.N * 40
	secs, cpu := loop(n)
	b.ReportMetric(secs*1e9/float64(n), "ns/block")
	b.ReportMetric(float64((cpu-base).Nanoseconds())/float64(n), "cpu-ns/block")
}

// BenchmarkPreload is a block that imports a module heavier than most
// (asyncio), run back to back: imported by each block, or preloaded once by
// the fork server (Options.Preload).
func BenchmarkPreload(b *testing.B) {
	for _, c := range []struct {
		name    string
		preload []string
	}{{"import", nil}, {"preloaded", []string{"asyncio"}}} {
		b.Run(c.name, func(b *testing.B) {
			r := startedRunner(b, Options{Python: benchPython, Preload: c.preload})
			ctx := context.Background()
			req := &Request{Code: "import asyncio\nset_output(1)", Timeout: time.Minute}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Run(ctx, req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
