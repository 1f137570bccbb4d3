package blueprints

import (
	"errors"
	"fmt"
	"io"
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
// parsed, or is over the default Limits, is recorded in Set.Errors under
// the key it would have had, so the other blueprints still load and the
// broken one is reported when it is asked for.
func Load(path string) (*Set, error) { return Limits{}.Load(path) }

// Load is the package's Load within these limits.
func (lim Limits) Load(path string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load blueprints: %w", err)
	}
	if !fi.IsDir() {
		bps, err := lim.LoadFile(path)
		return fileSet(path, bps, err), nil
	}
	l := &loader{lim: lim, fsys: os.DirFS(path), display: func(rel string) string {
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
func LoadFS(fsys fs.FS, dir string) (*Set, error) { return Limits{}.LoadFS(fsys, dir) }

// LoadFS is the package's LoadFS within these limits.
func (lim Limits) LoadFS(fsys fs.FS, dir string) (*Set, error) {
	l := &loader{lim: lim, fsys: fsys, display: func(rel string) string { return rel }}
	fi, err := fs.Stat(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load blueprints: %w", err)
	}
	if !fi.IsDir() {
		data, err := lim.readFile(fsys, dir, dir)
		if err != nil {
			return fileSet(dir, nil, err), nil
		}
		bps, err := lim.parseFile(dir, data)
		return fileSet(dir, bps, err), nil
	}
	return l.load(dir)
}

// LoadFile reads one blueprint file: native (by its .bp.yaml, .bp.yml,
// .bp.json ending, or plain .yaml, .yml, .json since it was named on
// purpose) or Writer (.jsonl). A native file gives one blueprint. A Writer
// file gives its blueprints, and may give an error along with them (see
// ParseWriter).
func LoadFile(path string) ([]*engine.Blueprint, error) { return Limits{}.LoadFile(path) }

// LoadFile is the package's LoadFile within these limits.
func (lim Limits) LoadFile(path string) ([]*engine.Blueprint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load blueprint: %w", err)
	}
	defer f.Close()
	data, err := lim.read(f, path)
	if err != nil {
		return nil, err
	}
	return lim.parseFile(path, data)
}

// readFile reads a file of fsys, refusing one over MaxFileBytes before
// reading it (and one that grows past it while it is read). name is what
// errors call it.
func (lim Limits) readFile(fsys fs.FS, p, name string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("load blueprint: %w", err)
	}
	defer f.Close()
	return lim.read(f, name)
}

func (lim Limits) read(f fs.File, name string) ([]byte, error) {
	limit := lim.maxFileBytes()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge(name, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("load blueprint: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(name, int64(len(data)), limit)
	}
	return data, nil
}

// parseFile picks the loader by file name.
func (lim Limits) parseFile(name string, data []byte) ([]*engine.Blueprint, error) {
	base := strings.ToLower(path.Base(toSlash(name)))
	switch {
	case strings.HasSuffix(base, writerSuffix):
		return lim.ParseWriter(name, data)
	case hasAnySuffix(base, nativeSuffixes) || hasAnySuffix(base, plainSuffixes):
		bp, err := lim.ParseNative(name, data)
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
	lim     Limits
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
	data, err := l.lim.readFile(l.fsys, p, name)
	if err != nil {
		l.errs = append(l.errs, &FileError{Path: name, Key: NativeKey(name), Err: err})
		return
	}
	bp, err := l.lim.ParseNative(name, data)
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
		data, err := l.lim.readFile(l.fsys, p, name)
		if err == nil {
			var wf *writerFile
			if wf, err = l.lim.parseWriterFile(name, data); err == nil {
				parsed = append(parsed, wf)
				continue
			}
		}
		l.errs = append(l.errs, &FileError{Path: name, Err: err})
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
