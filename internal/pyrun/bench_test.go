package pyrun

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkBlocks40 runs 40 sequential blocks (each `set_output(1)`), the
// shape of Windmill's public benchmark, per iteration, and reports the time
// per block: fork server (a fresh forked process per block) against a cold
// `python -I` process per block.
func BenchmarkBlocks40(b *testing.B) {
	for _, m := range []Mode{ModeForkServer, ModeFresh} {
		b.Run(m.String(), func(b *testing.B) {
			r, err := New(Options{Mode: m})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ctx := context.Background()
			if err := r.Start(ctx); err != nil {
				b.Fatal(err)
			}
			req := &Request{Code: "set_output(1)", Timeout: time.Minute}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for j := 0; j < 40; j++ {
					resp, err := r.Run(ctx, req, nil)
					if err != nil {
						b.Fatal(err)
					}
					if resp.Value != int64(1) {
						b.Fatalf("value %v", resp.Value)
					}
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*40), "ns/block")
		})
	}
}

// BenchmarkForkFloor measures, for reference, what the machine charges for
// the bare minimum of a fresh process per block: os.fork + os._exit +
// waitpid in a loop inside one Python process (imports like the server's).
func BenchmarkForkFloor(b *testing.B) {
	r, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	const script = `
import os, sys, time, gc, json, logging, socket, select, struct, threading, traceback
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
	n := b.N * 40
	out, err := exec.Command(r.Python(), "-I", "-c", script, strconv.Itoa(n)).Output()
	if err != nil {
		b.Fatal(err)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(secs*1e9/float64(n), "ns/block")
}
