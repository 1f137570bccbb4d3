package sandbox

import (
	"os"
	"path/filepath"
	"strings"
)

// Policy says which files a confined process may reach.
type Policy struct {
	// Read are trees and files it may read (and execute).
	Read []string
	// Write are trees and files it may read, write, create in and
	// remove from.
	Write []string
	// Deny are trees and files it may not reach even where they lie
	// beneath Read or Write. They need not exist yet.
	Deny []string
}

// grant is one path a confined process may reach.
type grant struct {
	path  string
	write bool
	dir   bool
}

// maxGrants bounds the grants a policy resolves to: a protected file deep
// in a wide tree costs a grant per sibling along its path.
const maxGrants = 4096

// grants resolves the policy to the paths to grant: absolute, symbolic
// links resolved, missing ones dropped, and every tree that holds a denied
// path replaced by its entries other than the one on the way to it,
// recursively. A path inside a denied tree is dropped.
func (p Policy) grants() []grant {
	deny := make([]string, 0, len(p.Deny))
	for _, d := range p.Deny {
		if d = resolveLoose(d); d != "" {
			deny = append(deny, d)
		}
	}
	var out []grant
	add := func(paths []string, write bool) {
		seen := map[string]bool{}
		for _, path := range paths {
			real, err := resolve(path)
			if err != nil || seen[real] {
				continue
			}
			seen[real] = true
			out = carve(out, real, write, deny)
		}
	}
	add(p.Read, false)
	add(p.Write, true)
	return out
}

// carve appends the grants for path: path itself when nothing denied lies
// beneath it, else its entries, carved in turn.
func carve(out []grant, path string, write bool, deny []string) []grant {
	if len(out) >= maxGrants {
		return out
	}
	fi, err := os.Stat(path)
	if err != nil {
		return out
	}
	inside := false // a denied path lies strictly beneath path
	for _, d := range deny {
		if within(d, path) {
			return out // path is denied, or inside a denied tree
		}
		if within(path, d) {
			inside = true
		}
	}
	if !inside || !fi.IsDir() {
		return append(out, grant{path: path, write: write, dir: fi.IsDir()})
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			// Landlock follows a link to its target, which is granted
			// (or not) on its own: the link adds nothing.
			continue
		}
		out = carve(out, filepath.Join(path, e.Name()), write, deny)
	}
	return out
}

// within reports whether path is root or lies beneath it.
func within(root, path string) bool {
	if path == root {
		return true
	}
	if root == string(filepath.Separator) {
		return strings.HasPrefix(path, root)
	}
	return strings.HasPrefix(path, root+string(filepath.Separator))
}

// resolve returns path made absolute with its symbolic links resolved.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// resolveLoose is resolve for a path that may not exist yet: its deepest
// existing ancestor is resolved and the rest appended. It returns "" for a
// path it cannot make absolute.
func resolveLoose(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	rest := ""
	for dir := abs; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}
