package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// keyMoved marks a vault file that Compact has replaced: a process that
// was waiting for its lock finds it and opens the file now at the path.
var keyMoved = []byte("moved")

// errMoved is what load finds in a replaced file; Open then opens again.
var errMoved = errors.New("the vault file was replaced while waiting for its lock")

// maxMovedRetries bounds Open's retries when the file is replaced under it
// again and again.
const maxMovedRetries = 8

// Compact rewrites the vault into a new file that holds only its live
// records, and puts that file in place of the old one.
//
// bbolt never clears a page it frees. Until the page is reused, the file
// keeps what a change replaced: after RotateKey the old wrapping of the data
// key, which the old master key opens (and with Reencrypt, the old data key's
// ciphertexts); after Set and Delete the replaced and deleted values'
// ciphertexts, which the current key opens. Compact is how they leave the
// file; bp's vault commands call it after every change. Copies on the disk
// below the file system (journal, SSD remapping) are beyond its reach.
//
// The new file is built beside the old one, synced, and renamed over it
// while both locks are held; the old file is then marked as moved, so that
// a process that was waiting for its lock opens the new one instead of
// writing into a file no path leads to. Killed before the rename, the old
// file stays in place and a hidden ".NAME.compact*" copy of it may be left
// beside it (sealed like the vault).
func (v *Vault) Compact() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.writable(); err != nil {
		return err
	}
	// A symlinked vault stays a symlink: the new file replaces its target.
	target, err := filepath.EvalSymlinks(v.path)
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".compact*")
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmpName)
		}
	}()
	dst, err := openBolt(tmpName, Options{})
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	// bolt.Compact commits (with fsync) every txMaxSize bytes; a vault is
	// small, so 0 (one transaction) is fine.
	if err := bolt.Compact(dst, v.db, 0); err != nil {
		dst.Close()
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	if err := os.Rename(tmpName, target); err != nil {
		dst.Close()
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	placed = true
	old := v.db
	v.db = dst
	err = syncDir(dir)
	if mark := update(old, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyMoved, []byte{1})
	}); err == nil {
		err = mark
	}
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault %s: compact: the compacted file is in place, but: %w", v.path, err)
	}
	return nil
}
