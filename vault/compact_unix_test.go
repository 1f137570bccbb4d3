//go:build unix

package vault

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The compacted file keeps the vault's mode and, when the user may, its
// owner; a killed Compact's leftover copy goes.
func TestCompactKeepsOwnerAndMode(t *testing.T) {
	v, path, _ := newVault(t)
	mustSet(t, v, "A", "1")
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 {
		uid, gid = 65534, 65534 // nobody: only root may give a file away
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	leftover := filepath.Join(filepath.Dir(path), ".vault.db.compact123")
	if err := os.WriteFile(leftover, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o640 || int(sys.Uid) != uid || int(sys.Gid) != gid {
		t.Fatalf("mode %v owner %d:%d, want 0640 %d:%d", st.Mode().Perm(), sys.Uid, sys.Gid, uid, gid)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover copy: %v", err)
	}
}
