package blueprints

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bprun/bp/engine"
)

// ErrNotFound is wrapped by Set.Get when no blueprint and no failed file has
// the key asked for.
var ErrNotFound = errors.New("blueprint not found")

// Set is what one Load found: the blueprints by key, and the files that
// failed. A directory with one broken file still serves the others; the
// broken one is reported when it is asked for by key, or by whoever lists
// Errors (bp validate).
type Set struct {
	// Blueprints are sorted by key; keys are unique. A blueprint may carry
	// LoadErrors, which validation reports.
	Blueprints []*engine.Blueprint
	// Errors are files (or keys) that gave no usable blueprint, sorted by
	// path: syntax errors, unreadable files, keys defined twice, Writer
	// components that belong to no blueprint.
	Errors []*FileError
}

// FileError is one file that could not be loaded, with the key its
// blueprint would have had, so that Get can return it.
type FileError struct {
	Path string
	Key  string // "" when no key can be told
	Err  error
}

func (e *FileError) Error() string {
	msg := e.Err.Error()
	if e.Path != "" && !strings.Contains(msg, e.Path) {
		return e.Path + ": " + msg
	}
	return msg
}

func (e *FileError) Unwrap() error { return e.Err }

// DuplicateKeyError is two or more blueprints with one key. None of them is
// loaded: picking one by file order would run the wrong one silently.
type DuplicateKeyError struct {
	Key     string
	Sources []string // where each is defined
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("blueprint key %s is defined more than once: in %s", engine.Quote(e.Key), strings.Join(e.Sources, " and "))
}

// NewSet makes a Set of blueprints and failures, for a program that loads
// blueprints its own way (embedded files, tests). Duplicate keys become
// errors as in Load.
func NewSet(bps []*engine.Blueprint, errs []*FileError) *Set {
	s := &Set{Errors: append([]*FileError(nil), errs...)}
	// Keys are compared Unicode-normalised (see engine.NameChecker).
	byKey := map[string][]*engine.Blueprint{}
	var keys []string
	names := engine.NewNameChecker()
	lookalikes := map[*engine.Blueprint]bool{} // not loaded: which one is meant cannot be told
	for _, bp := range bps {
		if bp == nil {
			continue
		}
		k := engine.NormName(bp.Key)
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], bp)
		if earlier, same := names.Add(bp.Key); earlier != "" && !same {
			lookalikes[bp] = true
			s.Errors = append(s.Errors, &FileError{Path: bp.Source, Key: bp.Key, Err: fmt.Errorf("blueprint key %s looks like the key %s but is written with other characters; rename one", engine.Quote(bp.Key), engine.Quote(earlier))})
		}
	}
	for _, k := range keys {
		group := byKey[k]
		if len(group) == 1 {
			if !lookalikes[group[0]] {
				s.Blueprints = append(s.Blueprints, group[0])
			}
			continue
		}
		dup := &DuplicateKeyError{Key: k}
		for _, bp := range group {
			dup.Sources = append(dup.Sources, sourceOf(bp))
		}
		s.Errors = append(s.Errors, &FileError{Path: group[0].Source, Key: k, Err: dup})
	}
	slices.SortStableFunc(s.Blueprints, func(a, b *engine.Blueprint) int { return strings.Compare(a.Key, b.Key) })
	slices.SortStableFunc(s.Errors, func(a, b *FileError) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return s
}

// sourceOf names where a blueprint is defined; for Writer files, where many
// blueprints share a folder, the file is enough (one blueprint per file).
func sourceOf(bp *engine.Blueprint) string {
	if bp.Source == "" {
		return "(no file)"
	}
	return bp.Source
}

// Get finds a blueprint by key. When the blueprint's file failed to load,
// it returns that file's error; when nothing has the key, an error wrapping
// ErrNotFound that lists the keys there are.
func (s *Set) Get(key string) (*engine.Blueprint, error) {
	key = engine.NormName(key)
	for _, e := range s.Errors {
		if engine.NormName(e.Key) == key && key != "" {
			return nil, e
		}
	}
	for _, bp := range s.Blueprints {
		if engine.NormName(bp.Key) == key {
			return bp, nil
		}
	}
	return nil, fmt.Errorf("%w: no blueprint has the key %s%s", ErrNotFound, engine.Quote(key), s.keyList())
}

// Only returns the blueprint when the set holds exactly one, or the error
// of its only file when that one failed; for "bp run FILE" without a key.
func (s *Set) Only() (*engine.Blueprint, error) {
	switch {
	case len(s.Blueprints) == 1:
		return s.Blueprints[0], nil
	case len(s.Blueprints) == 0 && len(s.Errors) > 0:
		return nil, s.Err()
	case len(s.Blueprints) == 0:
		return nil, fmt.Errorf("%w: no blueprints found", ErrNotFound)
	}
	return nil, fmt.Errorf("there are %d blueprints; choose one by key%s", len(s.Blueprints), s.keyList())
}

// Keys lists the keys of the loaded blueprints, sorted.
func (s *Set) Keys() []string {
	keys := make([]string, len(s.Blueprints))
	for i, bp := range s.Blueprints {
		keys[i] = bp.Key
	}
	return keys
}

// Err joins the errors of the files that failed, or returns nil.
func (s *Set) Err() error {
	errs := make([]error, len(s.Errors))
	for i, e := range s.Errors {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (s *Set) keyList() string {
	keys := s.Keys()
	switch {
	case len(keys) == 0:
		return ""
	case len(keys) > 20:
		keys = append(keys[:20:20], "...")
	}
	for i, k := range keys {
		keys[i] = engine.Short(k)
	}
	return " (there are: " + strings.Join(keys, ", ") + ")"
}
