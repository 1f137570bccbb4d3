//go:build unix

package pyrun

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// countingShim is an interpreter command that counts its runs (in a file)
// before it runs the real Python: a pyenv-style shim when dir ends in
// "shims".
func countingShim(t *testing.T, dir string) (path, count string) {
	t.Helper()
	// The interpreter itself, not a shim in front of it.
	out, err := exec.Command("python3", "-I", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("no python3")
	}
	real := strings.TrimSpace(string(out))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	count = filepath.Join(dir, "count")
	path = filepath.Join(dir, "python3")
	script := "#!/bin/sh\necho run >> " + count + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, count
}

func runs(t *testing.T, count string) int {
	t.Helper()
	b, _ := os.ReadFile(count)
	return strings.Count(string(b), "run")
}

// resolveFresh resolves as a new process would: nothing in memory.
func resolveFresh(t *testing.T, python, cache string) interpreter {
	t.Helper()
	resolved.Clear()
	in, err := resolve(python, os.Environ(), cache)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestResolveCache: the probe's answer is kept between processes and used
// while what it depends on is unchanged; a changed command or site
// directory is noticed.
func TestResolveCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	shim, count := countingShim(t, filepath.Join(dir, "bin"))

	first := resolveFresh(t, shim, cache)
	if runs(t, count) != 1 {
		t.Fatalf("probe ran %d times", runs(t, count))
	}
	second := resolveFresh(t, shim, cache)
	if runs(t, count) != 1 {
		t.Fatalf("a warm cache probed again (%d runs)", runs(t, count))
	}
	if len(first.harness) == 0 {
		t.Error("the harness was not compiled")
	}
	if second.path != first.path || string(second.site) != string(first.site) || second.version != first.version || !bytes.Equal(second.harness, first.harness) {
		t.Fatalf("cached answer differs: %+v vs %+v", second, first)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d files", len(entries))
	}
	if fi, _ := os.Stat(filepath.Join(cache, entries[0].Name())); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v", fi.Mode().Perm())
	}

	// The command replaced (an interpreter upgraded): probed again.
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(shim, later, later); err != nil {
		t.Fatal(err)
	}
	resolveFresh(t, shim, cache)
	if runs(t, count) != 2 {
		t.Fatalf("a changed command was not noticed (%d runs)", runs(t, count))
	}
	resolveFresh(t, shim, cache)
	if runs(t, count) != 2 {
		t.Fatalf("the renewed entry was not used (%d runs)", runs(t, count))
	}

	// A garbled entry is not trusted.
	if err := os.WriteFile(filepath.Join(cache, entries[0].Name()), []byte(`{"format": 3, "answer": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	resolveFresh(t, shim, cache)
	if runs(t, count) != 3 {
		t.Fatalf("a garbled entry was used (%d runs)", runs(t, count))
	}
}

// TestResolveCacheShimVersionFile: behind a shim, a .python-version file
// that appears in the working directory (pyenv would pick another
// interpreter) is noticed.
func TestResolveCacheShimVersionFile(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	shim, count := countingShim(t, filepath.Join(dir, "pyenv", "shims"))
	work := filepath.Join(dir, "project")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	resolveFresh(t, shim, cache)
	resolveFresh(t, shim, cache)
	if runs(t, count) != 1 {
		t.Fatalf("probe ran %d times", runs(t, count))
	}
	if err := os.WriteFile(filepath.Join(work, ".python-version"), []byte("3.12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolveFresh(t, shim, cache)
	if runs(t, count) != 2 {
		t.Fatalf("a new .python-version was not noticed (%d runs)", runs(t, count))
	}
}
