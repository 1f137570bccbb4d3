package runner_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

// secretVault makes a real vault file holding values, and returns its path
// and the read-only opener runs use.
func secretVault(t *testing.T, values map[string]string) (string, vault.MasterKey, func() (*vault.Vault, error)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault.db")
	key := vault.GenerateMasterKey()
	v, err := vault.Create(path, key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n, val := range values {
		if err := v.Set(n, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return path, key, func() (*vault.Vault, error) { return vault.Open(path, key, vault.Options{ReadOnly: true}) }
}

// setSecret changes a secret as another process would: its own writable
// open of the file.
func setSecret(t *testing.T, path string, key vault.MasterKey, name, value string) {
	t.Helper()
	v, err := vault.Open(path, key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Set(name, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// tamper flips a byte of a secret's sealed record in the file.
func tamper(t *testing.T, path, name string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("secrets"))
		rec := append([]byte(nil), b.Get([]byte(name))...)
		rec[len(rec)-1] ^= 1
		return b.Put([]byte(name), rec)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// guess is a blueprint per vault list that returns whether its secret S
// equals the payload, so that a test can tell which value a run saw
// without printing it.
var guess = map[string]string{
	"listed.bp.yaml":   "key: listed\nvault: [S]\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.S == payload}\"}}\n",
	"unlisted.bp.yaml": "key: unlisted\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.S == payload}\"}}\n",
}

func sees(t *testing.T, r *runner.Runner, blueprint, value string) bool {
	t.Helper()
	res, err := r.Run(context.Background(), runner.Request{Blueprint: blueprint, Payload: value})
	if err != nil {
		t.Fatalf("%s: %v", blueprint, err)
	}
	if res.Status != engine.StatusReturned {
		t.Fatalf("%s: %s: %v", blueprint, res.Status, res.Err)
	}
	return res.Return == true
}

// TestRunOpensOnlyTheSecretsItSees: a run decrypts only the secrets its
// blueprint can see. A record that does not authenticate fails the runs
// that read it, and no other.
func TestRunOpensOnlyTheSecretsItSees(t *testing.T) {
	path, _, open := secretVault(t, map[string]string{"S": "the-listed-secret", "OTHER": "never-opened-secret"})
	tamper(t, path, "OTHER")
	files := map[string]string{"reader.bp.yaml": "key: reader\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.OTHER}\"}}\n"}
	maps.Copy(files, guess)
	lib := runner.NewLibrary(load(t, files), blocks.Default(blocks.Options{}))
	for _, cache := range []*runner.Cache{nil, runner.NewCache()} {
		r := runner.New(runner.Options{Library: lib, OpenVault: open, Cache: cache, VaultPath: path})
		if !sees(t, r, "listed", "the-listed-secret") || !sees(t, r, "unlisted", "the-listed-secret") {
			t.Error("the secret was not read")
		}
		res, err := r.Run(context.Background(), runner.Request{Blueprint: "reader"})
		if err != nil || res.Status != engine.StatusFailed || !errors.Is(res.Err, vault.ErrTampered) || !strings.Contains(res.Err.Error(), "OTHER") {
			t.Errorf("a run that reads the tampered secret: %v, %+v", err, res)
		}
	}
}

// TestCacheSeesEveryChange: a long-lived runner keeps the vault between
// runs, and the next run sees a secret changed by another process: right
// after the vault was written (its time too recent to trust, even when the
// change kept it), long after (the time tells), and when the file is
// replaced by another.
func TestCacheSeesEveryChange(t *testing.T) {
	path, key, open := secretVault(t, map[string]string{"S": "first-value"})
	r := runner.New(runner.Options{
		Library:   runner.NewLibrary(load(t, guess), blocks.Default(blocks.Options{})),
		OpenVault: open, Cache: runner.NewCache(), VaultPath: path,
	})
	check := func(value string) {
		t.Helper()
		for _, bp := range []string{"listed", "unlisted"} {
			if !sees(t, r, bp, value) {
				t.Fatalf("%s does not see S changed to %q", bp, value)
			}
		}
	}
	check("first-value")
	// A change in the same clock tick as the last look at the file keeps
	// its time (and a value of the same length, its size): the cache must
	// not trust a time that recent.
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	setSecret(t, path, key, "S", "other-value")
	if err := os.Chtimes(path, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); after.Size() != before.Size() {
		t.Fatalf("the file's size changed (%d to %d): the test needs it kept", before.Size(), after.Size())
	}
	check("other-value")
	setSecret(t, path, key, "S", "second-value")
	check("second-value")

	// A file last written long ago: the cache trusts its time.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	check("second-value")
	check("second-value") // served from the cache
	setSecret(t, path, key, "S", "third-value")
	check("third-value")

	// Another vault renamed over the file, with the same time.
	repl := path + ".new"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(repl, data, 0o600); err != nil {
		t.Fatal(err)
	}
	setSecret(t, repl, key, "S", "fourth-value")
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	check("third-value")
	if err := os.Chtimes(repl, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repl, path); err != nil {
		t.Fatal(err)
	}
	check("fourth-value")
}

// TestCacheKeepsRunsApart: runs of one long-lived runner share the scrubber
// built for the vault, and a value one run masks stays that run's own.
func TestCacheKeepsRunsApart(t *testing.T) {
	_, _, open := secretVault(t, map[string]string{"CANARY": canary})
	set := load(t, map[string]string{"m.bp.yaml": `
blocks:
  m: {type: masker, outs: {success: r}}
  r: {type: returnvalue, fields: {value: "@{payload} @{vault.CANARY}"}}
`})
	reg := blocks.Default(blocks.Options{})
	reg.Register(masker{})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), OpenVault: open, Cache: runner.NewCache()})
	run := func(payload string) string {
		t.Helper()
		res, err := r.Run(context.Background(), runner.Request{Blueprint: "m", Payload: payload})
		if err != nil || res.Status != engine.StatusReturned {
			t.Fatalf("%v %+v", err, res)
		}
		return res.Return.(string)
	}
	if got := run("mask:run-one-token"); got != "*** ***" {
		t.Errorf("run one returned %q", got)
	}
	if got := run("run-one-token"); got != "run-one-token ***" {
		t.Errorf("run two returned %q: it masks what run one masked, or not the vault's secret", got)
	}
}

// masker masks its payload when it starts with "mask:".
type masker struct{}

func (masker) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "masker", Outcomes: []string{"success"}}
}

func (masker) Run(ctx context.Context, c *engine.Call) engine.Result {
	if p, _ := c.Payload().(string); strings.HasPrefix(p, "mask:") {
		c.Mask(p)
		c.Mask(strings.TrimPrefix(p, "mask:"))
	}
	return engine.Result{Outcome: "success"}
}
