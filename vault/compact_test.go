package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawMeta reads a meta record through an open vault.
func rawMeta(t *testing.T, v *Vault, key []byte) []byte {
	t.Helper()
	var out []byte
	view(v.db, func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketMeta).Get(key))
		return nil
	})
	return out
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// After a key rotation the file still holds the old wrapping of the data
// key in a freed page (which the old master key opens); after Compact it
// does not, and the vault is whole.
func TestCompactDropsTheOldWrappedDataKey(t *testing.T) {
	for _, reencrypt := range []bool{false, true} {
		v, path, _ := newVault(t)
		mustSet(t, v, "A", "value-a")
		mustSet(t, v, "B", "value-b")
		oldWrapped := rawMeta(t, v, keyDataKey)
		oldRecord := rawRecordOpen(t, v, "A")
		newKey := GenerateMasterKey()
		if err := v.RotateKey(newKey, RotateOptions{Reencrypt: reencrypt}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(fileBytes(t, path), oldWrapped) {
			t.Fatal("the old wrapped data key is not in the file after rotate-key: this test checks nothing")
		}
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		data := fileBytes(t, path)
		if bytes.Contains(data, oldWrapped) {
			t.Fatalf("reencrypt=%v: the old wrapped data key is still in the file", reencrypt)
		}
		if reencrypt && bytes.Contains(data, oldRecord) {
			t.Fatal("the old data key's ciphertext is still in the file")
		}
		// The handle goes on working, on the new file.
		mustSet(t, v, "C", "value-c")
		v.Close()
		r := reopen(t, path, newKey, Options{ReadOnly: true})
		for name, want := range map[string]string{"A": "value-a", "B": "value-b", "C": "value-c"} {
			if got := mustGet(t, r, name); got != want {
				t.Fatalf("%s = %q", name, got)
			}
		}
		r.Close()
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, %v", st.Mode(), err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*compact*")); len(left) != 0 {
			t.Fatalf("left behind: %v", left)
		}
	}
}

// A deleted or replaced value's ciphertext leaves the file with Compact.
func TestCompactDropsDeletedAndReplacedValues(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "GONE", "deleted-value")
	mustSet(t, v, "KEPT", "first-value")
	gone := rawRecordOpen(t, v, "GONE")
	first := rawRecordOpen(t, v, "KEPT")
	if err := v.Delete("GONE"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "KEPT", "second-value")
	if err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	data := fileBytes(t, path)
	if bytes.Contains(data, gone) || bytes.Contains(data, first) {
		t.Fatal("a deleted or replaced ciphertext is still in the file")
	}
	v.Close()
	r := reopen(t, path, key, Options{})
	if got := mustGet(t, r, "KEPT"); got != "second-value" {
		t.Fatal(got)
	}
	if _, err := r.Get("GONE"); err == nil {
		t.Fatal("GONE is back")
	}
}

type opened struct {
	v   *Vault
	err error
}

// openWaiting opens the vault in a goroutine while v holds its lock, and
// returns once that Open has the file open and is waiting for its lock.
func openWaiting(t *testing.T, path string, key MasterKey, readOnly bool) <-chan opened {
	t.Helper()
	fileOpen := make(chan struct{})
	var once sync.Once
	openedHook = func(string) { once.Do(func() { close(fileOpen) }) }
	t.Cleanup(func() { openedHook = nil })
	done := make(chan opened, 1)
	go func() {
		w, err := Open(path, key, Options{ReadOnly: readOnly, LockTimeout: time.Minute})
		done <- opened{w, err}
	}()
	<-fileOpen
	return done
}

// A writer or reader that was waiting for the lock while the file was
// compacted opens the new file, not the old one that no path leads to.
func TestCompactWhileAnotherWaitsForTheLock(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		v, path, key := newVault(t)
		mustSet(t, v, "A", "1")
		done := openWaiting(t, path, key, readOnly)
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		mustSet(t, v, "B", "2") // in the new file
		v.Close()
		o := <-done
		if o.err != nil {
			t.Fatal(o.err)
		}
		if got := mustGet(t, o.v, "B"); got != "2" {
			t.Fatalf("the waiter sees B = %q: it opened the replaced file", got)
		}
		if !readOnly {
			mustSet(t, o.v, "LATE", "3")
		}
		o.v.Close()
		if !readOnly {
			r := reopen(t, path, key, Options{ReadOnly: true})
			if got := mustGet(t, r, "LATE"); got != "3" {
				t.Fatalf("LATE = %q", got)
			}
			r.Close()
		}
	}
}

// The same when the compacting process died just after its rename: the
// waiter must not depend on anything the compactor does after it.
func TestWaiterFollowsAFileRenamedOverTheVault(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "1")
	done := openWaiting(t, path, key, false)
	// A copy of the vault, changed, renamed over it while v holds the lock.
	copyPath := path + ".copy"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := reopen(t, copyPath, key, Options{})
	mustSet(t, c, "NEW", "in the new file")
	c.Close()
	if err := os.Rename(copyPath, path); err != nil {
		t.Fatal(err)
	}
	v.Close() // as if its process died: the lock goes, nothing else happens
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer o.v.Close()
	if got := mustGet(t, o.v, "NEW"); got != "in the new file" {
		t.Fatalf("NEW = %q", got)
	}
}

func TestCompactReadOnly(t *testing.T) {
	v, path, key := newVault(t)
	v.Close()
	r := reopen(t, path, key, Options{ReadOnly: true})
	if err := r.Compact(); err == nil {
		t.Fatal("a read-only vault compacted")
	}
}

// A vault reached through a symlink stays a symlink; its target is
// replaced.
func TestCompactThroughASymlink(t *testing.T) {
	v, target, key := newVault(t)
	mustSet(t, v, "A", "1")
	v.Close()
	link := filepath.Join(tempDir(t), "link.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	w := reopen(t, link, key, Options{})
	if err := w.Compact(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is no longer a symlink: %v %v", st.Mode(), err)
	}
	if got := mustGet(t, reopen(t, target, key, Options{ReadOnly: true}), "A"); got != "1" {
		t.Fatal(got)
	}
}
