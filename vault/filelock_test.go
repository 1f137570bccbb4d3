//go:build unix || windows

package vault

import (
	"os"
	"path/filepath"
	"testing"
)

// While one holder has the key file's list locked, no other open of the
// lock file gets it; once it lets go, one does.
func TestKeyUsersLockExcludes(t *testing.T) {
	keyFile := filepath.Join(tempDir(t), "vault.key")
	unlock, err := lockKeyUsers(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	lockPath := keyUsersPath(keyFile) + ".lock"
	if tryLockFile(t, lockPath) {
		t.Fatal("a second open got the lock while the first held it")
	}
	unlock()
	if !tryLockFile(t, lockPath) {
		t.Fatal("the lock was not released")
	}
}

// tryLockFile opens path and takes its lock without waiting, reporting
// whether it got it; the lock goes with the file at the test's end.
func tryLockFile(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	got, err := tryLock(f)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
