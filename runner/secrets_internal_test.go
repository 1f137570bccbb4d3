package runner

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/vault"
)

// TestOnlyVisibleSecretsAreOpened: after runs of a blueprint that lists
// one secret, that is the only plaintext the process holds; a Cache's
// Clear drops it and zeroes the snapshot's key.
func TestOnlyVisibleSecretsAreOpened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	key := vault.GenerateMasterKey()
	v, err := vault.Create(path, key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"A", "B", "C"} {
		if err := v.Set(n, []byte("value-of-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	if err := os.MkdirAll(filepath.Join(dir, "bp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bp", "a.bp.yaml"), []byte("key: a\nvault: [A]\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.A}\"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := blueprints.Load(filepath.Join(dir, "bp"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	r := New(Options{
		Library:   NewLibrary(set, blocks.Default(blocks.Options{})),
		OpenVault: func() (*vault.Vault, error) { return vault.Open(path, key, vault.Options{ReadOnly: true}) },
		Cache:     c, VaultPath: path,
	})
	for range 2 {
		if res, err := r.Run(context.Background(), Request{Blueprint: "a"}); err != nil || res.Return != "***" {
			t.Fatalf("%v %+v", err, res)
		}
	}
	vs := c.vault.secrets
	if got := slices.Sorted(maps.Keys(vs.values)); !slices.Equal(got, []string{"A"}) {
		t.Errorf("opened %q, want only A", got)
	}
	c.Clear()
	if c.vault != nil || vs.values != nil || len(c.scrubbers) != 0 {
		t.Error("Clear kept values or scrubbers")
	}
	if _, err := vs.snap.Get("A"); !errors.Is(err, vault.ErrClosed) {
		t.Errorf("the snapshot is still open after Clear: %v", err)
	}
}
