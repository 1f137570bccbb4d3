package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bprun/bp/server"
)

const threeBP = `
key: three
blocks:
  start: {type: apitrigger, outs: {trigger: keep}}
  keep: {type: setstate, fields: {element: n, value: "@{payload.n}"}, outs: {success: check}}
  check: {type: ifelse, fields: {expression: "@{state.n > 0}"}, outs: {true: done, false: done}}
  done: {type: returnvalue, fields: {value: "@{state.n}"}}
`

// BenchmarkServeRun is the server's hot path in one process: a 3-block
// run through POST ?wait=1 (events streamed, the run recorded in a bbolt
// history with group commit) from 32 clients over loopback.
func BenchmarkServeRun(b *testing.B) {
	for _, hist := range []string{"on", "off"} {
		b.Run("history="+hist, func(b *testing.B) {
			// No vault file, as for bp serve on a machine without one: a
			// run's vault snapshot is another issue's hot path.
			f := newFixture(b, map[string]string{"three.bp.yaml": threeBP}, func(o *server.Options) {
				o.Logger = nil
				o.OpenVault, o.OpenVaultRW = nil, nil
				if hist == "off" {
					o.History = nil
				}
			})
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var n atomic.Int64
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(f.url+"/v1/blueprints/three/runs?wait=1", "application/json", strings.NewReader(fmt.Sprintf(`{"n": %d}`, n.Add(1))))
					if err != nil {
						b.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"returned"`) {
						b.Errorf("%d %s", resp.StatusCode, body)
						return
					}
				}
			})
		})
	}
}
