package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// RotateOptions control RotateKey.
type RotateOptions struct {
	// Reencrypt also replaces the data key and reseals every value under
	// the new one (same versions and times). Without it only the wrapping of
	// the data key changes: enough when the old master key leaked but no
	// copy of the vault file did. Whoever holds the old key and an old copy
	// of the file can unwrap the old data key, and without Reencrypt that
	// key still opens today's values; so if the file may have leaked too, or
	// the data key itself (a memory dump of a run), use Reencrypt.
	Reencrypt bool

	// KeyFile, when set, is the key file that must hold the new key once the
	// rotation is done (usually the file the current key came from). The new
	// key must then be a raw key, not a passphrase.
	KeyFile string

	// NewKeyFile, when set, is a new file (it must not exist) to write the
	// new key to, before the transaction; KeyFile is then left alone. It is
	// how a vault that shares its key file with others (see SharedKeyFile)
	// gets a key of its own. The new key must be a raw key.
	NewKeyFile string
}

// RotateKey makes newKey the vault's master key, in one bbolt transaction.
//
// With opts.KeyFile the order is what keeps the user from losing access if
// the process dies at any point:
//
//  1. the new key is written, synced, to KeyFile+".pending";
//  2. the transaction commits (fsync): the vault now opens with the new key;
//  3. the pending file is renamed over KeyFile (atomic) and the directory
//     synced.
//
// Killed before 2 commits, the vault still opens with the old key in
// KeyFile (a stale pending file is ignored and overwritten next time).
// Killed between 2 and 3, KeyFile no longer fits but Open tries the pending
// file next to it, and a read-write Open finishes step 3. So exactly one of
// the old and new keys opens the vault and the key files always lead to it.
// Without KeyFile (a key from BP_VAULT_KEY or a passphrase) the caller holds
// both keys: the old one opens the vault until the commit, the new one after.
func (v *Vault) RotateKey(newKey MasterKey, opts RotateOptions) error {
	if newKey.IsZero() {
		return fmt.Errorf("vault %s: rotate-key: %w", v.path, ErrNoKey)
	}
	if opts.KeyFile != "" && opts.NewKeyFile != "" {
		return fmt.Errorf("vault %s: rotate-key: a new key goes to KeyFile or to NewKeyFile, not both", v.path)
	}
	if f := opts.KeyFile + opts.NewKeyFile; f != "" && newKey.IsPassphrase() {
		return fmt.Errorf("vault %s: rotate-key: a passphrase cannot be written to key file %s", v.path, f)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.writable(); err != nil {
		return err
	}

	kdf := newKDF(newKey)
	kdfRec := kdf.marshal()
	kek, err := deriveKEK(newKey, kdf)
	if err != nil {
		return fmt.Errorf("vault %s: rotate-key: %w", v.path, err)
	}
	defer clear(kek)
	kekAEAD, err := newAEAD(kek)
	if err != nil {
		return err
	}

	dek, aead, index := v.dek, v.aead, v.index
	if opts.Reencrypt {
		dek = make([]byte, KeySize)
		_, _ = rand.Read(dek)
		if aead, err = newAEAD(dek); err != nil {
			return err
		}
		index = v.index.clone()
	}
	ok := false
	defer func() {
		if !ok && opts.Reencrypt {
			clear(dek)
		}
	}()

	if opts.KeyFile != "" {
		if err := writeFileAtomic(pendingKeyPath(opts.KeyFile), newKey.Encode(), true); err != nil {
			return fmt.Errorf("vault %s: rotate-key: pending %w", v.path, err)
		}
	}
	if opts.NewKeyFile != "" {
		// In place before the commit: once the vault needs it, it is there.
		if err := writeFileAtomic(opts.NewKeyFile, newKey.Encode(), false); err != nil {
			return fmt.Errorf("vault %s: rotate-key: new key file %w", v.path, err)
		}
	}
	err = update(v.db, func(tx *bolt.Tx) error {
		if opts.Reencrypt {
			if err := v.reseal(tx, index, aead); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, kv := range [][2][]byte{
			{keyKDF, kdfRec},
			{keyCheckVal, keyCheck(kek, v.id)},
			{keyDataKey, seal(kekAEAD, []byte{formatV1}, dek, dataKeyAD(v.id, kdfRec))},
		} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if opts.KeyFile != "" {
			os.Remove(pendingKeyPath(opts.KeyFile)) // the vault still opens with the old key
		}
		if opts.NewKeyFile != "" {
			os.Remove(opts.NewKeyFile)
		}
		return fmt.Errorf("vault %s: rotate-key: %w", v.path, err)
	}
	ok = true
	if opts.Reencrypt {
		clear(v.dek)
		v.dek, v.aead, v.index = dek, aead, index
	}
	if opts.KeyFile != "" {
		if err := installPendingKey(opts.KeyFile); err != nil {
			return fmt.Errorf("vault %s: rotate-key committed, but the new key stays in %s (bp still finds it there): %w", v.path, pendingKeyPath(opts.KeyFile), err)
		}
	}
	return nil
}

// reseal decrypts every value with the current data key (authenticating it
// against the manifest) and seals it under aead, updating index in place.
// The manifest is resealed under aead too.
func (v *Vault) reseal(tx *bolt.Tx, index manifest, aead cipher.AEAD) error {
	b := tx.Bucket(bucketSecrets)
	for name, e := range index {
		value, err := v.openRecord(name, e, b.Get([]byte(name)))
		if err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
		rec := seal(aead, recordHeader(e.version), value, secretAD(v.id, name, e.version))
		clear(value)
		e.digest = sha256.Sum256(rec)
		index[name] = e
		if err := b.Put([]byte(name), rec); err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyManifest, seal(aead, []byte{formatV1}, index.marshal(), manifestAD(v.id)))
}
