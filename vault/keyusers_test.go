package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// twoVaults makes two vaults that open with one key file, both noted.
func twoVaults(t *testing.T) (a, b, keyFile string, key MasterKey) {
	t.Helper()
	dir := tempDir(t)
	keyFile = filepath.Join(dir, "config", "vault.key")
	if err := WriteKeyFile(keyFile, GenerateMasterKey()); err != nil {
		t.Fatal(err)
	}
	key, err := ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a, b = filepath.Join(dir, "data", "a.db"), filepath.Join(dir, "data", "b.db")
	for _, p := range []string{a, b} {
		v, err := Create(p, key, Options{})
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
		if err := RecordKeyUser(keyFile, p); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, keyFile, key
}

func TestKeyUsersList(t *testing.T) {
	a, b, keyFile, _ := twoVaults(t)
	// Again, and through a symlink: still one line each.
	link := filepath.Join(filepath.Dir(a), "link.db")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, link} {
		if err := RecordKeyUser(keyFile, p); err != nil {
			t.Fatal(err)
		}
	}
	users, err := KeyUsers(keyFile)
	if err != nil || !reflect.DeepEqual(users, []string{canonical(a), canonical(b)}) {
		t.Fatalf("users %q, %v", users, err)
	}
	data, _ := os.ReadFile(keyUsersPath(keyFile))
	if key, _ := os.ReadFile(keyFile); bytes.Contains(data, bytes.TrimSpace(key)) {
		t.Fatal("the list holds the key")
	}
	if err := ForgetKeyUser(keyFile, a); err != nil {
		t.Fatal(err)
	}
	if users, _ := KeyUsers(keyFile); !reflect.DeepEqual(users, []string{canonical(b)}) {
		t.Fatalf("after forget: %q", users)
	}
	if st, err := os.Stat(keyUsersPath(keyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("list file: %v %v", st, err)
	}
}

func TestSharedKeyFile(t *testing.T) {
	a, b, keyFile, key := twoVaults(t)
	shared, err := SharedKeyFile(keyFile, a, key, Options{})
	if err != nil || !reflect.DeepEqual(shared, []string{canonical(b)}) {
		t.Fatalf("shared %q, %v", shared, err)
	}
	// b moves to a key of its own: a no longer shares, and b is forgotten.
	v := reopen(t, b, key, Options{})
	if err := v.RotateKey(GenerateMasterKey(), RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if shared, err := SharedKeyFile(keyFile, a, key, Options{}); err != nil || len(shared) != 0 {
		t.Fatalf("after b's rotation: %q, %v", shared, err)
	}
	if users, _ := KeyUsers(keyFile); !reflect.DeepEqual(users, []string{canonical(a)}) {
		t.Fatalf("users %q", users)
	}
}

// NewKeyFile gives a vault a key file of its own, written before the
// commit; the shared key file is left as it was.
func TestRotateToANewKeyFile(t *testing.T) {
	a, b, keyFile, key := twoVaults(t)
	before, _ := os.ReadFile(keyFile)
	own := filepath.Join(filepath.Dir(keyFile), "a.key")
	newKey := GenerateMasterKey()
	v := reopen(t, a, key, Options{})
	if err := v.RotateKey(newKey, RotateOptions{NewKeyFile: own}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if after, _ := os.ReadFile(keyFile); !bytes.Equal(before, after) {
		t.Fatal("the shared key file changed")
	}
	ownKey, err := ReadKeyFile(own)
	if err != nil {
		t.Fatal(err)
	}
	reopen(t, a, ownKey, Options{ReadOnly: true}).Close()
	reopen(t, b, key, Options{ReadOnly: true}).Close()

	// A new key file that exists already is refused, and nothing changes.
	v = reopen(t, b, key, Options{})
	err = v.RotateKey(GenerateMasterKey(), RotateOptions{NewKeyFile: own})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("existing new key file: %v", err)
	}
	v.Close()
	reopen(t, b, key, Options{ReadOnly: true}).Close()
	if k, _ := ReadKeyFile(own); !bytes.Equal(k.Encode(), ownKey.Encode()) {
		t.Fatal("the existing key file was overwritten")
	}
}

// Vaults noted while others are forgotten all stay noted.
func TestKeyUsersConcurrent(t *testing.T) {
	dir := tempDir(t)
	keyFile := filepath.Join(dir, "vault.key")
	path := func(kind string, i int) string { return filepath.Join(dir, fmt.Sprintf("%s-%02d.db", kind, i)) }
	const n = 16
	for i := range n {
		if err := RecordKeyUser(keyFile, path("old", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); _ = RecordKeyUser(keyFile, path("new", i)) }()
		go func() { defer wg.Done(); _ = ForgetKeyUser(keyFile, path("old", i)) }()
	}
	wg.Wait()
	users, err := KeyUsers(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, canonical(path("new", i)))
	}
	slices.Sort(users)
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users\n%q\nwant\n%q", users, want)
	}
}
