package vault

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Set stores value under name, replacing any older value, in one
// transaction (bbolt commits with fsync). The version goes up by one. The
// value is copied into the ciphertext only; Set keeps no reference to it.
func (v *Vault) Set(name string, value []byte) error {
	if err := checkValue(name, value); err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	return v.change(func(tx *bolt.Tx, m manifest, now int64) error {
		return v.put(tx, m, name, value, now)
	})
}

// Import stores every name/value pair in one transaction: either all of
// them are set or, on any error, none. Names are checked before anything is
// written.
func (v *Vault) Import(values map[string][]byte) error {
	names := make([]string, 0, len(values))
	for n, val := range values {
		if err := checkValue(n, val); err != nil {
			return fmt.Errorf("vault %s: %w", v.path, err)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return v.change(func(tx *bolt.Tx, m manifest, now int64) error {
		for _, n := range names {
			if err := v.put(tx, m, n, values[n], now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes secret name; ErrNotFound if there is none. The old
// ciphertext stays in bbolt's free pages until they are reused or Compact
// runs; the manifest no longer names it, so it can never be brought back as
// a valid value.
func (v *Vault) Delete(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	return v.change(func(tx *bolt.Tx, m manifest, _ int64) error {
		if _, ok := m[name]; !ok {
			return fmt.Errorf("secret %s: %w", name, ErrNotFound)
		}
		delete(m, name)
		return tx.Bucket(bucketSecrets).Delete([]byte(name))
	})
}

func checkValue(name string, value []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("secret %s: value is %d bytes, more than the %d allowed", name, len(value), MaxValueSize)
	}
	return nil
}

// put seals value as the next version of name and records it in m.
func (v *Vault) put(tx *bolt.Tx, m manifest, name string, value []byte, now int64) error {
	e, existed := m[name]
	e.version++
	if !existed {
		e.created = now
	}
	e.updated = now
	rec := seal(v.aead, recordHeader(e.version), value, secretAD(v.id, name, e.version))
	e.digest = sha256.Sum256(rec)
	m[name] = e
	if err := tx.Bucket(bucketSecrets).Put([]byte(name), rec); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return nil
}

// change runs fn in a write transaction on a copy of the manifest, seals
// and stores the copy in the same transaction, and adopts it only once the
// transaction committed.
func (v *Vault) change(fn func(tx *bolt.Tx, m manifest, now int64) error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.writable(); err != nil {
		return err
	}
	next := v.index.clone()
	now := time.Now().UnixNano()
	err := update(v.db, func(tx *bolt.Tx) error {
		if err := fn(tx, next, now); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyManifest, seal(v.aead, []byte{formatV1}, next.marshal(), manifestAD(v.id)))
	})
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	v.index = next
	return nil
}

func (v *Vault) writable() error {
	switch {
	case v.db == nil:
		return fmt.Errorf("vault %s: %w", v.path, ErrClosed)
	case v.readOnly:
		return fmt.Errorf("vault %s: %w", v.path, ErrReadOnly)
	}
	return nil
}
