package vault

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is the vault as it stood at one moment: its manifest and every
// sealed record, read in one read transaction, so that the file is free
// for writers again as soon as Snapshot returns, however long the snapshot
// is used. Values stay sealed until Get opens them: a run opens only the
// secrets it may see. A Snapshot holds a copy of the data key until Close,
// which zeroes it; it never writes anything. Its methods are safe for
// concurrent use.
type Snapshot struct {
	path string
	id   []byte
	gen  string

	mu      sync.RWMutex
	dek     []byte      // zeroed by Close
	aead    cipher.AEAD // nil after Close
	index   manifest
	records map[string][]byte // sealed, copied out of the memory map
}

// Snapshot reads the vault's sealed records and manifest in one read
// transaction.
func (v *Vault) Snapshot() (*Snapshot, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return nil, fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	}
	// The index is never changed in place (a change replaces it), so the
	// snapshot shares it.
	s := &Snapshot{path: v.path, id: slices.Clone(v.id), index: v.index, records: make(map[string][]byte, len(v.index))}
	err := view(v.db, func(tx *bolt.Tx) error {
		s.gen = generation(tx)
		b := tx.Bucket(bucketSecrets)
		// The records of the names in the index, copied out of the memory
		// map into one allocation; a cursor walks them without a search
		// (and an allocation) per name.
		size := 0
		c := b.Cursor()
		for k, rec := c.First(); k != nil; k, rec = c.Next() {
			if _, ok := s.index[string(k)]; ok {
				size += len(rec)
			}
		}
		arena := make([]byte, 0, size)
		for k, rec := c.First(); k != nil; k, rec = c.Next() {
			if _, ok := s.index[string(k)]; ok {
				start := len(arena)
				arena = append(arena, rec...)
				s.records[string(k)] = arena[start:len(arena):len(arena)]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", v.path, err)
	}
	s.dek = slices.Clone(v.dek)
	if s.aead, err = newAEAD(s.dek); err != nil {
		clear(s.dek)
		return nil, fmt.Errorf("vault %s: %w", v.path, err)
	}
	return s, nil
}

// Generation identifies the vault's contents: it changes with every change
// to any secret (every change reseals the manifest under a fresh nonce),
// and two opens of an unchanged file give the same. A process that keeps
// secrets from a vault compares it to tell whether they are still current.
func (v *Vault) Generation() (string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return "", fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	}
	var gen string
	err := view(v.db, func(tx *bolt.Tx) error {
		gen = generation(tx)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("vault %s: %w", v.path, err)
	}
	return gen, nil
}

// ReadGeneration returns the generation of the vault file at path (see
// Vault.Generation) without its key: the file is opened read-only, under
// the shared lock, only to hash the sealed manifest. It costs a fraction
// of Open, which a process that keeps secrets pays only when this changed.
func ReadGeneration(path string, opts Options) (string, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return "", fmt.Errorf("vault %s: %w", path, err)
	case !st.Mode().IsRegular() || st.Size() == 0:
		return "", fmt.Errorf("vault %s: not a vault file: %w", path, ErrNotVault)
	}
	opts.ReadOnly = true
	db, err := openBolt(path, opts)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var gen string
	err = view(db, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return ErrNotVault
		}
		gen = generation(tx)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("vault %s: %w", path, err)
	}
	return gen, nil
}

func generation(tx *bolt.Tx) string {
	sum := sha256.Sum256(tx.Bucket(bucketMeta).Get(keyManifest))
	return hex.EncodeToString(sum[:])
}

// Generation is the vault's generation (see Vault.Generation) when the
// snapshot was taken.
func (s *Snapshot) Generation() string { return s.gen }

// Get opens the value of secret name, as Vault.Get does: a copy the caller
// may zero, ErrNotFound if there is none, ErrTampered if its record does not
// authenticate, ErrClosed after Close.
func (s *Snapshot) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("vault %s: %w", s.path, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.aead == nil {
		return nil, fmt.Errorf("vault %s: snapshot: %w", s.path, ErrClosed)
	}
	e, ok := s.index[name]
	if !ok {
		return nil, fmt.Errorf("vault %s: secret %s: %w", s.path, name, ErrNotFound)
	}
	value, err := openRecord(s.aead, s.id, name, e, s.records[name])
	if err != nil {
		return nil, fmt.Errorf("vault %s: secret %s: %w", s.path, name, err)
	}
	return value, nil
}

// Names returns the names of the secrets, sorted.
func (s *Snapshot) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.index))
	for n := range s.index {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List returns the metadata of every secret, sorted by name.
func (s *Snapshot) List() []Meta {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Meta, 0, len(s.index))
	for n, e := range s.index {
		out = append(out, e.meta(n))
	}
	slices.SortFunc(out, func(a, b Meta) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close zeroes the snapshot's copy of the data key and drops its records;
// Get then fails with ErrClosed. Calling Close again does nothing.
func (s *Snapshot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.dek)
	s.dek, s.aead, s.records = nil, nil, nil
}
