package vault

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestTamperFlipEveryByte flips, one at a time, every byte of a sealed value
// (and of the key and manifest records) in the raw file. Each must give an
// error, never a value.
func TestTamperFlipEveryByte(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "value-of-a")
	mustSet(t, v, "B", "value-of-b")
	v.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]struct {
		rec  []byte
		want []error
	}{
		"secret A": {rawRecord(t, path, bucketSecrets, []byte("A")), []error{ErrTampered}},
		"manifest": {rawRecord(t, path, bucketMeta, keyManifest), []error{ErrTampered}},
		"data key": {rawRecord(t, path, bucketMeta, keyDataKey), []error{ErrTampered}},
		"id":       {rawRecord(t, path, bucketMeta, keyID), []error{ErrWrongKey}},
		"check":    {rawRecord(t, path, bucketMeta, keyCheckVal), []error{ErrWrongKey}},
	}
	for what, tc := range targets {
		// The record may also sit in free pages from an older transaction;
		// flip its current copy: the one bbolt finds.
		idxs := allIndexes(orig, tc.rec)
		if len(idxs) == 0 {
			t.Fatalf("%s: record not found in the file", what)
		}
		for i := range tc.rec {
			raw := bytes.Clone(orig)
			for _, at := range idxs {
				raw[at+i] ^= 0x01
			}
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			vv, err := Open(path, key, Options{ReadOnly: true})
			if err == nil {
				got, gerr := vv.Get("A")
				vv.Close()
				if gerr == nil {
					t.Fatalf("%s byte %d flipped: Get returned %q", what, i, got)
				}
				err = gerr
			}
			if !anyIs(err, tc.want) {
				t.Fatalf("%s byte %d flipped: %v, want %v", what, i, err, tc.want)
			}
		}
	}
	os.WriteFile(path, orig, 0o600)
	r := reopen(t, path, key, Options{ReadOnly: true})
	if got := mustGet(t, r, "A"); got != "value-of-a" {
		t.Fatal(got)
	}
}

func allIndexes(s, sub []byte) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(s[off:], sub)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + 1
	}
}

func anyIs(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestTamperSwapNames(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "value-of-a")
	mustSet(t, v, "B", "value-of-b")
	v.Close()
	a := rawRecord(t, path, bucketSecrets, []byte("A"))
	b := rawRecord(t, path, bucketSecrets, []byte("B"))
	putRaw(t, path, bucketSecrets, []byte("A"), b)
	putRaw(t, path, bucketSecrets, []byte("B"), a)
	r := reopen(t, path, key, Options{ReadOnly: true})
	for _, n := range []string{"A", "B"} {
		got, err := r.Get(n)
		if err == nil {
			t.Fatalf("swapped %s: Get returned %q", n, got)
		}
		wantErr(t, err, ErrTampered)
	}
}

func TestTamperRollback(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "old-value")
	mustSet(t, v, "B", "b1")
	v.Close()
	oldA := rawRecord(t, path, bucketSecrets, []byte("A"))
	oldManifest := rawRecord(t, path, bucketMeta, keyManifest)

	v = reopen(t, path, key, Options{})
	mustSet(t, v, "A", "new-value")
	mustSet(t, v, "B", "b2")
	v.Close()

	// 1. The old ciphertext of A, with its own (genuine) version.
	putRaw(t, path, bucketSecrets, []byte("A"), oldA)
	r := reopen(t, path, key, Options{ReadOnly: true})
	got, err := r.Get("A")
	if err == nil {
		t.Fatalf("rolled back A: Get returned %q", got)
	}
	wantErr(t, err, ErrTampered)
	if !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("error %q should say rolled back", err)
	}
	r.Close()

	// 2. Old A and the old manifest together: B, which changed since, no
	// longer matches, so the partial rollback shows.
	putRaw(t, path, bucketMeta, keyManifest, oldManifest)
	r = reopen(t, path, key, Options{ReadOnly: true})
	if got := mustGet(t, r, "A"); got != "old-value" {
		t.Fatalf("A = %q", got) // consistent with the old manifest: accepted
	}
	_, err = r.Get("B")
	wantErr(t, err, ErrTampered)
	r.Close()
}

func TestTamperResurrectDeleted(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "deleted-value")
	v.Close()
	old := rawRecord(t, path, bucketSecrets, []byte("A"))
	v = reopen(t, path, key, Options{})
	if err := v.Delete("A"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	putRaw(t, path, bucketSecrets, []byte("A"), old)
	r := reopen(t, path, key, Options{})
	_, err := r.Get("A")
	wantErr(t, err, ErrNotFound)
	// Re-created with the same version number: the old record still fails.
	mustSet(t, r, "A", "new-value")
	r.Close()
	putRaw(t, path, bucketSecrets, []byte("A"), old)
	r = reopen(t, path, key, Options{ReadOnly: true})
	got, err := r.Get("A")
	if err == nil {
		t.Fatalf("resurrected A: Get returned %q", got)
	}
	wantErr(t, err, ErrTampered)

	// A record deleted behind the manifest's back.
	r.Close()
	putRaw(t, path, bucketSecrets, []byte("A"), nil)
	r = reopen(t, path, key, Options{ReadOnly: true})
	_, err = r.Get("A")
	wantErr(t, err, ErrTampered)
}

func TestTamperOtherVault(t *testing.T) {
	// The same data key cannot be forced, but the same name and version in
	// another vault must not open either: the vault id is in the AD.
	v1, p1, _ := newVault(t)
	mustSet(t, v1, "A", "vault-one")
	v2, p2, k2 := newVault(t)
	mustSet(t, v2, "A", "vault-two")
	v1.Close()
	v2.Close()
	putRaw(t, p2, bucketSecrets, []byte("A"), rawRecord(t, p1, bucketSecrets, []byte("A")))
	r := reopen(t, p2, k2, Options{ReadOnly: true})
	_, err := r.Get("A")
	wantErr(t, err, ErrTampered)
}

// TestTamperAEADBindsNameAndVersion checks the second layer on its own:
// below the manifest, which already refuses a record it does not name (see
// TestTamperSwapNames), the AEAD's associated data binds each value to its
// secret's name and version. B's record, presented to openRecord with an
// entry that the manifest check accepts, opens as B and as nothing else.
func TestTamperAEADBindsNameAndVersion(t *testing.T) {
	v, _, _ := newVault(t)
	mustSet(t, v, "A", "value-of-a")
	mustSet(t, v, "B", "value-of-b")
	recB, entryB := rawRecordOpen(t, v, "B"), v.index["B"]
	if entryB.version != v.index["A"].version {
		t.Fatalf("A and B differ in version (%d, %d): the name alone must tell them apart", v.index["A"].version, entryB.version)
	}
	if got, err := v.openRecord("B", entryB, recB); err != nil || string(got) != "value-of-b" {
		t.Fatalf("B's own record: %q, %v", got, err)
	}

	got, err := v.openRecord("A", entryB, recB)
	if err == nil {
		t.Fatalf("B's record opened as A: %q", got)
	}
	wantErr(t, err, ErrTampered)

	later := entryB
	later.version++
	got, err = v.openRecord("B", later, recB)
	if err == nil {
		t.Fatalf("B's record opened as version %d: %q", later.version, got)
	}
	wantErr(t, err, ErrTampered)
}
