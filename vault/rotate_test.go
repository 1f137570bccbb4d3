package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestRotateKey(t *testing.T) {
	for _, reencrypt := range []bool{false, true} {
		v, path, oldKey := newVault(t)
		mustSet(t, v, "A", "value-a")
		mustSet(t, v, "B", "value-b")
		oldRec := rawRecordOpen(t, v, "A")
		newKey := GenerateMasterKey()
		if err := v.RotateKey(newKey, RotateOptions{Reencrypt: reencrypt}); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, v, "A"); got != "value-a" {
			t.Fatal(got)
		}
		metaBefore, _ := v.Meta("A")
		v.Close()
		_, err := Open(path, oldKey, Options{})
		wantErr(t, err, ErrWrongKey)
		r := reopen(t, path, newKey, Options{ReadOnly: true})
		if got := mustGet(t, r, "B"); got != "value-b" {
			t.Fatal(got)
		}
		if m, _ := r.Meta("A"); m != metaBefore || m.Version != 1 {
			t.Fatalf("meta changed: %+v vs %+v", m, metaBefore)
		}
		r.Close()
		if changed := !bytes.Equal(oldRec, rawRecord(t, path, bucketSecrets, []byte("A"))); changed != reencrypt {
			t.Fatalf("reencrypt=%v but record changed=%v", reencrypt, changed)
		}
	}
}

// rawRecordOpen reads a record through an open read-write vault.
func rawRecordOpen(t *testing.T, v *Vault, name string) []byte {
	t.Helper()
	var out []byte
	view(v.db, func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketSecrets).Get([]byte(name)))
		return nil
	})
	return out
}

func TestRotateToPassphraseAndBack(t *testing.T) {
	v, path, _ := newVault(t)
	mustSet(t, v, "A", "value-a")
	pass := PassphraseKey([]byte("a long passphrase"))
	if err := v.RotateKey(pass, RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	v = reopen(t, path, PassphraseKey([]byte("a long passphrase")), Options{})
	back := GenerateMasterKey()
	if err := v.RotateKey(back, RotateOptions{Reencrypt: true}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	r := reopen(t, path, back, Options{ReadOnly: true})
	if got := mustGet(t, r, "A"); got != "value-a" {
		t.Fatal(got)
	}
	if err := r.RotateKey(GenerateMasterKey(), RotateOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
}

// TestRotateKeyFileCrashStates builds, by hand, each state a rotate-key with
// a key file can be killed in, and checks that the key file still leads to
// the vault, and that exactly one of the old and new keys opens it.
func TestRotateKeyFileCrashStates(t *testing.T) {
	setup := func(t *testing.T) (path, keyFile string, oldKey, newKey MasterKey) {
		v, path, oldKey := newVault(t)
		mustSet(t, v, "A", "value-a")
		v.Close()
		keyFile = filepath.Join(filepath.Dir(path), "vault.key")
		if err := WriteKeyFile(keyFile, oldKey); err != nil {
			t.Fatal(err)
		}
		return path, keyFile, oldKey, GenerateMasterKey()
	}
	opensWith := func(path string, k MasterKey) bool {
		v, err := Open(path, k, Options{ReadOnly: true})
		if err == nil {
			v.Close()
		}
		return err == nil
	}
	fromFile := func(t *testing.T, path, keyFile string, opts Options) *Vault {
		k, err := ReadKeyFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return reopen(t, path, k, opts)
	}

	t.Run("pending written, not committed", func(t *testing.T) {
		path, keyFile, oldKey, newKey := setup(t)
		writeFileAtomic(pendingKeyPath(keyFile), newKey.Encode(), true)
		v := fromFile(t, path, keyFile, Options{})
		if mustGet(t, v, "A") != "value-a" {
			t.Fatal("value")
		}
		v.Close()
		if _, err := os.Stat(pendingKeyPath(keyFile)); err != nil {
			t.Fatal("a pending key that does not open the vault must be left alone")
		}
		if !opensWith(path, oldKey) || opensWith(path, newKey) {
			t.Fatal("exactly the old key must open it")
		}
		// The next rotation overwrites the stale pending key.
		v = fromFile(t, path, keyFile, Options{})
		k3 := GenerateMasterKey()
		if err := v.RotateKey(k3, RotateOptions{KeyFile: keyFile}); err != nil {
			t.Fatal(err)
		}
		v.Close()
		if _, err := os.Stat(pendingKeyPath(keyFile)); !os.IsNotExist(err) {
			t.Fatal("pending key left behind")
		}
		fromFile(t, path, keyFile, Options{ReadOnly: true})
	})
	t.Run("committed, not renamed", func(t *testing.T) {
		path, keyFile, oldKey, newKey := setup(t)
		writeFileAtomic(pendingKeyPath(keyFile), newKey.Encode(), true)
		v := reopen(t, path, oldKey, Options{})
		if err := v.RotateKey(newKey, RotateOptions{}); err != nil { // the commit, without the rename
			t.Fatal(err)
		}
		v.Close()
		if opensWith(path, oldKey) || !opensWith(path, newKey) {
			t.Fatal("exactly the new key must open it")
		}
		r := fromFile(t, path, keyFile, Options{ReadOnly: true}) // via the pending key
		if mustGet(t, r, "A") != "value-a" {
			t.Fatal("value")
		}
		r.Close()
		if _, err := os.Stat(pendingKeyPath(keyFile)); err != nil {
			t.Fatal("a read-only open must not move key files")
		}
		w := fromFile(t, path, keyFile, Options{}) // finishes the rename
		w.Close()
		if _, err := os.Stat(pendingKeyPath(keyFile)); !os.IsNotExist(err) {
			t.Fatal("pending key not installed")
		}
		k, _ := ReadKeyFile(keyFile)
		if !bytes.Equal(k.raw, newKey.raw) {
			t.Fatal("key file does not hold the new key")
		}
	})
	t.Run("full rotation", func(t *testing.T) {
		path, keyFile, oldKey, newKey := setup(t)
		v := fromFile(t, path, keyFile, Options{})
		if err := v.RotateKey(newKey, RotateOptions{KeyFile: keyFile, Reencrypt: true}); err != nil {
			t.Fatal(err)
		}
		v.Close()
		if opensWith(path, oldKey) || !opensWith(path, newKey) {
			t.Fatal("exactly the new key must open it")
		}
		r := fromFile(t, path, keyFile, Options{ReadOnly: true})
		if mustGet(t, r, "A") != "value-a" {
			t.Fatal("value")
		}
		if st, _ := os.Stat(keyFile); st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v", st.Mode().Perm())
		}
	})
}
