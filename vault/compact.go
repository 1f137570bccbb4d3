package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// maxReplacedRetries bounds openBolt's retries when the file is replaced
// under it again and again.
const maxReplacedRetries = 8

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
// The new file is built beside the old one (beside a symlink's target), with
// the old one's owner and mode, synced, and renamed over it while both locks
// are held. A process that was waiting for the old file's lock sees, once it
// has it, that the path leads to another file, and opens that one (see
// openBolt). Killed before the rename, the old file stays in place and a
// hidden ".NAME.compact*" copy may be left beside it (sealed like the vault);
// the next Compact removes it. A hard link to the vault keeps the old file.
func (v *Vault) Compact() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.writable(); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(v.path)
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	dir, base := filepath.Dir(target), filepath.Base(target)
	// Left by a Compact that was killed: this one holds the lock now. (Not
	// a glob: the vault's name may hold glob characters.)
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), "."+base+".compact")
			if ok && rest != "" && strings.Trim(rest, "0123456789") == "" { // CreateTemp's digits
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	tmp, err := os.CreateTemp(dir, "."+base+".compact*")
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
	tmpName := tmp.Name()
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmpName)
		}
	}()
	err = sameOwnerAndMode(tmp, target, st)
	tmp.Close()
	if err != nil {
		return fmt.Errorf("vault %s: compact: %w", v.path, err)
	}
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
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault %s: compact: the compacted file is in place, but: %w", v.path, err)
	}
	return nil
}

// sameOwnerAndMode gives f the owner, group and permissions of st, the
// file at path, so that a vault shared with a service account stays
// readable by it (keepOwner). A user who may not give the file away gets an
// error, and the old file stays.
func sameOwnerAndMode(f *os.File, path string, st os.FileInfo) error {
	if err := f.Chmod(st.Mode().Perm()); err != nil {
		return err
	}
	return keepOwner(f, path, st)
}
