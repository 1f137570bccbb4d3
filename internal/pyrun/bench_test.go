package pyrun

import (
	"context"
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
