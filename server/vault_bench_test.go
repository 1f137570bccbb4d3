package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/server"
	"github.com/bprun/bp/vault"
)

// BenchmarkServeRunVault is BenchmarkServeRun's load (a 3-block run
// through POST ?wait=1 from 16 clients over loopback, no history) against
// a vault of 1 and of 1,000 secrets, for a blueprint with vault: [A] and
// one without a list, which sees them all: as bp serve runs them, with a
// runner.Cache, and without one (each run opens the vault and builds its
// scrubber). runs/s is the figure to compare.
func BenchmarkServeRunVault(b *testing.B) {
	const body = `
blocks:
  start: {type: apitrigger, outs: {trigger: keep}}
  keep: {type: setstate, fields: {element: n, value: "@{payload.n}"}, outs: {success: check}}
  check: {type: ifelse, fields: {expression: "@{state.n > 0}"}, outs: {true: done, false: done}}
  done: {type: returnvalue, fields: {value: "@{len(vault.A) + state.n}"}}
`
	dir := b.TempDir()
	for name, text := range map[string]string{"listed.bp.yaml": "key: listed\nvault: [A]" + body, "unlisted.bp.yaml": "key: unlisted" + body} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	set, err := blueprints.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	lib := runner.NewLibrary(set, reg)
	for _, n := range []int{1, 1000} {
		path, key := benchVault(b, n)
		open := func() (*vault.Vault, error) { return vault.Open(path, key, vault.Options{ReadOnly: true}) }
		for _, mode := range []string{"cached", "uncached"} {
			for _, bp := range []string{"listed", "unlisted"} {
				b.Run(fmt.Sprintf("%s/%s/secrets=%d", mode, bp, n), func(b *testing.B) {
					opts := runner.Options{Library: lib, OpenVault: open}
					if mode == "cached" {
						opts.Cache, opts.VaultPath = runner.NewCache(), path
						defer opts.Cache.Clear()
					}
					api := server.New(server.Options{Runner: runner.New(opts), OpenVault: open})
					srv := httptest.NewServer(api)
					defer func() {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						defer cancel()
						_ = api.Shutdown(ctx)
						srv.Close()
					}()
					tr := &http.Transport{MaxIdleConnsPerHost: 64}
					defer tr.CloseIdleConnections()
					client := &http.Client{Transport: tr}
					var seq atomic.Int64
					b.SetParallelism(8) // 16 clients on 2 processors
					b.ResetTimer()
					start := time.Now()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							resp, err := client.Post(srv.URL+"/v1/blueprints/"+bp+"/runs?wait=1", "application/json", strings.NewReader(fmt.Sprintf(`{"n": %d}`, seq.Add(1))))
							if err != nil {
								b.Error(err)
								return
							}
							out, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 || !strings.Contains(string(out), `"status":"returned"`) {
								b.Errorf("%d %s", resp.StatusCode, out)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
				})
			}
		}
	}
}

// benchVault makes a vault of n secrets like a team's (tokens, passwords
// with signs, keys; the first is A), last written an hour ago.
func benchVault(b *testing.B, n int) (string, vault.MasterKey) {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 17))
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const signs = alnum + "!#$%&()*+,-./:;<=>?@[]^_{|}~"
	rnd := func(alpha string, k int) string {
		s := make([]byte, k)
		for i := range s {
			s[i] = alpha[r.IntN(len(alpha))]
		}
		return string(s)
	}
	values := map[string][]byte{"A": []byte(rnd(alnum, 32))}
	for i := 1; i < n; i++ {
		v := [...]string{"ghp_" + rnd(alnum, 36), rnd(signs, 12+r.IntN(12)), "xoxb-" + rnd(alnum, 40), rnd(alnum, 40)}[i%4]
		values[fmt.Sprintf("S%04d", i)] = []byte(v)
	}
	path := filepath.Join(b.TempDir(), "vault.db")
	key := vault.GenerateMasterKey()
	v, err := vault.Create(path, key, vault.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Import(values); err != nil {
		b.Fatal(err)
	}
	v.Close()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		b.Fatal(err)
	}
	return path, key
}
