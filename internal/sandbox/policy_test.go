package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func paths(gs []grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.path)
	}
	slices.Sort(out)
	return out
}

// A tree that holds a denied path is granted entry by entry around it;
// one that holds none, whole; one inside a denied tree, not at all.
func TestGrantsCarveAroundDenied(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"flows/a.bp.yaml", "flows/data/x.csv", "flows/bp/vault.db", "flows/bp/notes", "other/y", "conf/bp/vault.key"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "conf"), filepath.Join(root, "flows", "link")); err != nil {
		t.Fatal(err)
	}
	j := func(p string) string { return filepath.Join(root, p) }
	p := Policy{
		Read:  []string{j("flows"), j("other"), j("conf/bp/sub"), j("missing")},
		Write: []string{j("other")},
		Deny:  []string{j("flows/bp/vault.db"), j("conf/bp"), j("flows/history.db")},
	}
	got := paths(p.grants())
	want := []string{j("flows/a.bp.yaml"), j("flows/bp/notes"), j("flows/data"), j("other"), j("other")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("grants\n got %v\nwant %v", got, want)
	}
	for _, g := range p.grants() {
		if g.path == j("flows/data") && !g.dir || g.path == j("flows/a.bp.yaml") && g.dir {
			t.Errorf("%s: dir %v", g.path, g.dir)
		}
	}
}

// A denied path given through a link is denied where the link points.
func TestGrantsResolveLinks(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "real", "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	p := Policy{Read: []string{filepath.Join(root, "alias")}, Deny: []string{filepath.Join(root, "alias", "keys")}}
	if got := paths(p.grants()); len(got) != 0 {
		t.Errorf("grants %v, want none (the only entry is denied)", got)
	}
}
