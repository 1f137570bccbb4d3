package vault

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) {
	// argon2id at RFC 9106 cost takes ~100 ms (seconds under -race); the
	// tests check the logic, the benchmark states the real cost.
	if os.Getenv(childEnv) == "" {
		defaultArgon2 = kdfParams{alg: kdfArgon2id, time: 1, memory: 64, threads: 1}
	}
	runChild() // returns unless this process is a crash-test child
	os.Exit(m.Run())
}

// newVault creates a vault in a temp dir and returns it with its path and key.
func newVault(t testing.TB) (*Vault, string, MasterKey) {
	t.Helper()
	path := filepath.Join(tempDir(t), "data", "vault.db")
	key := GenerateMasterKey()
	v, err := Create(path, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, path, key
}

func mustSet(t testing.TB, v *Vault, name, value string) {
	t.Helper()
	if err := v.Set(name, []byte(value)); err != nil {
		t.Fatalf("Set %s: %v", name, err)
	}
}

func mustGet(t testing.TB, v *Vault, name string) string {
	t.Helper()
	b, err := v.Get(name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return string(b)
}

func reopen(t testing.TB, path string, key MasterKey, opts Options) *Vault {
	t.Helper()
	v, err := Open(path, key, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func fileHash(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// rawRecord reads bucket/key straight from the bbolt file (vault closed).
func rawRecord(t testing.TB, path string, bucket, key []byte) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []byte
	db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	})
	return out
}

// putRaw writes bucket/key straight into the bbolt file, as an attacker
// with write access to the file could (vault closed).
func putRaw(t testing.TB, path string, bucket, key, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if value == nil {
			return tx.Bucket(bucket).Delete(key)
		}
		return tx.Bucket(bucket).Put(key, value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// putRawCreate makes a valid bbolt file with an unrelated bucket.
func putRawCreate(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something"))
		return err
	})
}

// tempDir is t.TempDir on tmpfs (/dev/shm) when there is one. The tests kill
// processes, not machines, so fsync buys them nothing, and on a busy disk
// each bbolt commit's fsyncs can take tens of milliseconds.
func tempDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "bp-vault-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}
