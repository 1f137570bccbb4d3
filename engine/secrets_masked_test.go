package engine_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/bprun/bp/engine"
)

// countingSecrets records which secrets a run opens and whether it lists
// the vault.
type countingSecrets struct {
	mapSecrets
	mu     sync.Mutex
	opened []string
	listed int
}

func (c *countingSecrets) Secret(ctx context.Context, name string) (string, error) {
	c.mu.Lock()
	c.opened = append(c.opened, name)
	c.mu.Unlock()
	return c.mapSecrets.Secret(ctx, name)
}

func (c *countingSecrets) SecretNames(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	c.listed++
	c.mu.Unlock()
	return c.mapSecrets.SecretNames(ctx)
}

// TestSecretsMasked: when the caller masked the blueprint's secrets before
// the run, the run opens only the secret a block reads, never lists the
// vault, and hands OnSecret only what the blueprints it calls may read.
func TestSecretsMasked(t *testing.T) {
	env := newEnv(t)
	child := bp("listed-child", blk("r", "returnvalue", f{"value": "@{vault.CCCC}"}))
	child.Vault = []string{"CCCC"}
	env.compile(t, child)
	p := env.compile(t, bp("parent",
		blk("t", "apitrigger", nil, "trigger>a"),
		blk("a", "returnvalue", f{"value": "@{vault.AAAA}"}),
	))
	src := &countingSecrets{mapSecrets: mapSecrets{"AAAA": "a-secret", "BBBB": "b-secret", "CCCC": "c-secret", "DDDD": "d-secret"}}
	var masked []string
	res, _ := env.run(t, p, engine.RunOptions{Secrets: src, SecretsMasked: true, OnSecret: func(v string) { masked = append(masked, v) }})
	if res.Return != "a-secret" {
		t.Fatalf("got %#v (%v)", res.Return, res.Err)
	}
	if !reflect.DeepEqual(src.opened, []string{"AAAA"}) || src.listed != 0 || masked != nil {
		t.Errorf("opened %q, listed %d times, OnSecret %q: want only AAAA opened, no list, no OnSecret", src.opened, src.listed, masked)
	}

	// A called blueprint's secrets go through OnSecret as before.
	src.opened, masked = nil, nil
	p = env.compile(t, bp("caller", blk("c", "runblueprint", f{"blueprintKey": "listed-child"})))
	res, _ = env.run(t, p, engine.RunOptions{Secrets: src, SecretsMasked: true, OnSecret: func(v string) { masked = append(masked, v) }})
	if res.Status != engine.StatusCompleted || !slices.Equal(masked, []string{"c-secret"}) {
		t.Errorf("status %s (%v), OnSecret %q: want the called blueprint's c-secret", res.Status, res.Err, masked)
	}
}
