package vault

import (
	"math/rand/v2"
	"os"
	"testing"
)

// TestCorruptFile damages random bytes anywhere in the file (bbolt pages
// included): Open and Get must fail with one of the vault's errors, never
// crash (a corrupt page can make bbolt read past its memory map) and never
// return a wrong value.
func TestCorruptFile(t *testing.T) {
	v, path, key := newVault(t)
	names := []string{}
	for i := range 30 {
		n := "S" + string(rune('A'+i%26)) + string(rune('A'+i/26))
		names = append(names, n)
		mustSet(t, v, n, "value-value-value")
	}
	v.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	known := []error{ErrWrongKey, ErrTampered, ErrNotVault}
	for trial := range 600 {
		raw := append([]byte(nil), orig...)
		for range 1 + trial%4 {
			raw[rand.IntN(len(raw))] ^= byte(1 + rand.IntN(255))
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		vv, err := Open(path, key, Options{ReadOnly: true})
		if err != nil {
			if !anyIs(err, known) {
				t.Fatalf("Open of a damaged file: unexpected error %v", err)
			}
			counts["open failed"]++
			continue
		}
		for _, n := range names {
			got, err := vv.Get(n)
			switch {
			case err == nil && string(got) != "value-value-value":
				t.Fatalf("damaged file: Get %s returned a wrong value", n)
			case err != nil && !anyIs(err, append(known, ErrNotFound)):
				t.Fatalf("damaged file: Get %s: unexpected error %v", n, err)
			case err != nil:
				counts["get failed"]++
			}
		}
		vv.Close()
		counts["opened"]++
	}
	t.Log(counts)
}
