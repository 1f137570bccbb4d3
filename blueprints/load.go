package blueprints

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bprun/bp/engine"
)

// Load reads the blueprints at path: one file (native, or a Writer
// components-blueprints_*.jsonl file), or a directory.
//
// A directory is searched recursively for native files (*.bp.yaml,
// *.bp.yml, *.bp.json) and Writer folders (a directory holding
// components-blueprints_*.jsonl files, usually .wf). Hidden directories
// other than .wf, testdata and node_modules are skipped: they hold test
// fixtures, tools and other people's files, not blueprints to serve.
//
// Load fails only when path cannot be read at all. A file that cannot be
// parsed is recorded in Set.Errors under the key it would have had, so the
// other blueprints still load and the broken one is reported when it is
// asked for.
func Load(path string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load blueprints: %w", err)
	}
	if !fi.IsDir() {
		bps, err := LoadFile(path)
		return fileSet(path, bps, err), nil
	}
	l := &loader{fsys: os.DirFS(path), display: func(rel string) string {
		if rel == "." {
			return filepath.Clean(path)
		}
		return filepath.Join(path, filepath.FromSlash(rel))
	}}
	return l.load(".")
}

// LoadFS is Load for a file system, such as an embed.FS of example
// blueprints. dir is a slash-separated path in fsys ("." for its root);
// sources and positions name files by their path in fsys.
func LoadFS(fsys fs.FS, dir string) (*Set, error) {
	l := &loader{fsys: fsys, display: func(rel string) string { return rel }}
	fi, err := fs.Stat(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load blueprints: %w", err)
	}
	if !fi.IsDir() {
		data, err := fs.ReadFile(fsys, dir)
		if err != nil {
			return fileSet(dir, nil, err), nil
		}
		bps, err := parseFile(dir, data)
		return fileSet(dir, bps, err), nil
	}
	return l.load(dir)
}

// LoadFile reads one blueprint file: native (by its .bp.yaml, .bp.yml,
// .bp.json ending, or plain .yaml, .yml, .json since it was named on
// purpose) or Writer (.jsonl). A native file gives one blueprint. A Writer
// file gives its blueprints, and may give an error along with them (see
// ParseWriter).
func LoadFile(path string) ([]*engine.Blueprint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load blueprint: %w", err)
	}
	return parseFile(path, data)
}

// parseFile picks the loader by file name.
func parseFile(name string, data []byte) ([]*engine.Blueprint, error) {
	base := strings.ToLower(path.Base(toSlash(name)))
	switch {
	case strings.HasSuffix(base, writerSuffix):
		return ParseWriter(name, data)
	case hasAnySuffix(base, nativeSuffixes) || hasAnySuffix(base, plainSuffixes):
		bp, err := ParseNative(name, data)
		if err != nil {
			return nil, err
		}
		return []*engine.Blueprint{bp}, nil
	}
	return nil, fmt.Errorf("%s: not a blueprint file (want *.bp.yaml, *.bp.yml, *.bp.json or Writer's components-blueprints_*.jsonl)", name)
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, suf := range suffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// fileSet makes the Set of one named file.
func fileSet(name string, bps []*engine.Blueprint, err error) *Set {
	var errs []*FileError
	if err != nil {
		key := ""
		if len(bps) == 0 && !strings.HasSuffix(name, writerSuffix) {
			key = NativeKey(name)
		}
		errs = append(errs, &FileError{Path: name, Key: key, Err: err})
	}
	return NewSet(bps, errs)
}

// loader walks one directory tree.
type loader struct {
	fsys    fs.FS
	display func(rel string) string // the name users see for a path in fsys
	bps     []*engine.Blueprint
	errs    []*FileError
}

func (l *loader) load(root string) (*Set, error) {
	writerDirs := map[string][]string{} // dir → its Writer files, sorted
	var dirs []string
	err := fs.WalkDir(l.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			l.errs = append(l.errs, &FileError{Path: l.display(p), Err: err})
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && skipDir(name) {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") {
			return nil // editor lock files (.#x.bp.yaml) and the like
		}
		switch {
		case IsNativeFile(name):
			l.native(p)
		case IsWriterFile(name):
			dir := path.Dir(p)
			if writerDirs[dir] == nil {
				dirs = append(dirs, dir)
			}
			writerDirs[dir] = append(writerDirs[dir], p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load blueprints: %w", err)
	}
	for _, dir := range dirs {
		l.writerFolder(writerDirs[dir])
	}
	return NewSet(l.bps, l.errs), nil
}

// skipDir says which directories a scan does not enter.
func skipDir(name string) bool {
	switch {
	case name == ".wf":
		return false
	case strings.HasPrefix(name, "."), name == "testdata", name == "node_modules":
		return true
	}
	return false
}

func (l *loader) native(p string) {
	name := l.display(p)
	data, err := fs.ReadFile(l.fsys, p)
	if err != nil {
		l.errs = append(l.errs, &FileError{Path: name, Key: NativeKey(name), Err: err})
		return
	}
	bp, err := ParseNative(name, data)
	if err != nil {
		l.errs = append(l.errs, &FileError{Path: name, Key: NativeKey(name), Err: err})
		return
	}
	l.bps = append(l.bps, bp)
}

// writerFolder loads the Writer files of one folder together, so that a
// block finds its blueprint whichever file holds it.
func (l *loader) writerFolder(files []string) {
	slices.Sort(files)
	var parsed []*writerFile
	for _, p := range files {
		name := l.display(p)
		data, err := fs.ReadFile(l.fsys, p)
		if err != nil {
			l.errs = append(l.errs, &FileError{Path: name, Err: err})
			continue
		}
		parsed = append(parsed, parseWriterFile(name, data))
	}
	bps, err := assembleWriter(parsed)
	l.bps = append(l.bps, bps...)
	if err == nil {
		return
	}
	// Each loose problem is its own error, so each names its own file.
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		l.errs = append(l.errs, &FileError{Err: err})
		return
	}
	for _, e := range joined.Unwrap() {
		fe := &FileError{Err: e}
		var p *engine.Problem
		if errors.As(e, &p) {
			fe.Path = p.Pos.File
		}
		l.errs = append(l.errs, fe)
	}
}
