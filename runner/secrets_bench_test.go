package runner_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

// benchVault makes a vault of n secrets like a team's: tokens, passwords
// with signs, keys. The first is A.
func benchVault(b *testing.B, n int) (string, func() (*vault.Vault, error)) {
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
	// A vault last written a while ago, as between two changes: the
	// cache trusts its time (see runner.Cache).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		b.Fatal(err)
	}
	return path, func() (*vault.Vault, error) { return vault.Open(path, key, vault.Options{ReadOnly: true}) }
}

// BenchmarkRunVault is one run of a one-block blueprint against a vault of
// 1 and of 1,000 secrets, with vault: [A] and without a list (it sees
// them all): as bp run does it (a fresh scrubber each run) and as a
// long-lived process does it (runner.Cache).
func BenchmarkRunVault(b *testing.B) {
	set := load(b, map[string]string{
		"listed.bp.yaml":   "key: listed\nvault: [A]\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{len(vault.A)}\"}}\n",
		"unlisted.bp.yaml": "key: unlisted\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{len(vault.A)}\"}}\n",
	})
	lib := runner.NewLibrary(set, blocks.Default(blocks.Options{}))
	for _, n := range []int{1, 1000} {
		path, open := benchVault(b, n)
		for _, mode := range []string{"cli", "cached"} {
			for _, bp := range []string{"listed", "unlisted"} {
				b.Run(fmt.Sprintf("%s/%s/secrets=%d", mode, bp, n), func(b *testing.B) {
					opts := runner.Options{Library: lib, OpenVault: open}
					if mode == "cached" {
						opts.Cache, opts.VaultPath = runner.NewCache(), path
					}
					r := runner.New(opts)
					b.ReportAllocs()
					for b.Loop() {
						res, err := r.Run(context.Background(), runner.Request{Blueprint: bp})
						if err != nil || res.Status != engine.StatusReturned {
							b.Fatal(err, res)
						}
					}
				})
			}
		}
	}
}
