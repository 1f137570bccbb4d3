package vault

import (
	"errors"
	"slices"
	"testing"
)

func TestSnapshot(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "A", "alpha-value")
	mustSet(t, v, "B", "beta-value")
	v.Close()

	ro := reopen(t, path, key, Options{ReadOnly: true})
	gen, err := ro.Generation()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ro.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ro.Close() // the snapshot outlives the open file
	if snap.Generation() != gen {
		t.Errorf("snapshot generation %s, vault's %s", snap.Generation(), gen)
	}
	if got := snap.Names(); !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("Names = %q", got)
	}
	if l := snap.List(); len(l) != 2 || l[1].Name != "B" || l[1].Version != 1 {
		t.Errorf("List = %+v", l)
	}

	// A writer may change the file now; the snapshot keeps what it read.
	w := reopen(t, path, key, Options{})
	mustSet(t, w, "A", "alpha-changed")
	wgen, err := w.Generation()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if wgen == gen {
		t.Error("the generation did not change with a Set")
	}
	if b, err := snap.Get("A"); err != nil || string(b) != "alpha-value" {
		t.Errorf("Get A = %q, %v; want the value as of the snapshot", b, err)
	}
	if _, err := snap.Get("C"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get C: %v", err)
	}
	again := reopen(t, path, key, Options{ReadOnly: true})
	if g, _ := again.Generation(); g != wgen {
		t.Errorf("a new open sees generation %s, the writer left %s", g, wgen)
	}
	if g, err := ReadGeneration(path, Options{}); err != nil || g != wgen {
		t.Errorf("ReadGeneration = %s, %v; want %s", g, err, wgen)
	}
	if _, err := ReadGeneration(path+".missing", Options{}); err == nil {
		t.Error("ReadGeneration of no file: no error")
	}

	dek := snap.dek
	snap.Close()
	if _, err := snap.Get("A"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	for _, b := range dek {
		if b != 0 {
			t.Fatal("Close left the data key in memory")
		}
	}
	snap.Close() // twice is fine
}

func TestSnapshotRefusesATamperedRecord(t *testing.T) {
	v, _, _ := newVault(t)
	mustSet(t, v, "A", "alpha-value")
	snap, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	snap.records["A"][len(snap.records["A"])-1] ^= 1
	if b, err := snap.Get("A"); !errors.Is(err, ErrTampered) || b != nil {
		t.Errorf("Get of a flipped record = %q, %v", b, err)
	}
}
