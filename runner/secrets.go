package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/vault"
)

// vaultSnapshot is the vault as one run sees it: read once, at the start
// of the run, with the file open (and share-locked) only for that moment,
// so that a long run never keeps a writer waiting.
type vaultSnapshot struct {
	values map[string]string
}

// snapshotVault reads every secret of a vault.
func snapshotVault(v *vault.Vault) (*vaultSnapshot, error) {
	metas, err := v.List()
	if err != nil {
		return nil, err
	}
	s := &vaultSnapshot{values: make(map[string]string, len(metas))}
	for _, m := range metas {
		b, err := v.Get(m.Name)
		if err != nil {
			return nil, fmt.Errorf("reading secret %s: %w", m.Name, err)
		}
		s.values[m.Name] = string(b)
		clear(b)
	}
	return s, nil
}

func (s *vaultSnapshot) Secret(ctx context.Context, name string) (string, error) {
	v, ok := s.values[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, errors.Join(engine.ErrSecretNotFound, vault.ErrNotFound))
	}
	return v, nil
}

func (s *vaultSnapshot) SecretNames(ctx context.Context) ([]string, error) {
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// StaticSecrets is a SecretSource over fixed values: the fake vault of a
// golden-file test case, or a program that keeps secrets elsewhere.
type StaticSecrets map[string]string

func (s StaticSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, engine.ErrSecretNotFound)
	}
	return v, nil
}

func (s StaticSecrets) SecretNames(ctx context.Context) ([]string, error) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
