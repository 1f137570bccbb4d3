package runner

import (
	"sync"
	"sync/atomic"

	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
)

// Library compiles the blueprints of a set on first use and keeps them.
// A blueprint that does not load or validate is reported when it is
// selected or called, so one bad file does not stop the others.
//
// Reload replaces the set while runs go on: each run keeps the version it
// started with, runblueprint calls included, and a blueprint whose new file
// does not load or validate keeps its previous version.
type Library struct {
	types engine.TypeResolver

	reload sync.Mutex // one Reload at a time
	cur    atomic.Pointer[libVersion]
}

// libVersion is the library as one run sees it from start to end.
type libVersion struct {
	set   *blueprints.Set
	types engine.TypeResolver
	// rejected are the blueprints whose new file did not load or
	// validate, by key: the version in set is the previous one.
	rejected map[string]error

	mu    sync.Mutex
	progs map[string]libEntry
}

type libEntry struct {
	prog *engine.Program
	err  error
}

// NewLibrary makes a library over a set of loaded blueprints.
func NewLibrary(set *blueprints.Set, types engine.TypeResolver) *Library {
	l := &Library{types: types}
	l.cur.Store(&libVersion{set: set, types: types, progs: map[string]libEntry{}})
	return l
}

// Set is the blueprints the library holds now.
func (l *Library) Set() *blueprints.Set { return l.cur.Load().set }

// Program returns the compiled blueprint with a key, as the library holds
// it now.
func (l *Library) Program(key string) (*engine.Program, error) {
	return l.cur.Load().Program(key)
}

// Rejected returns, by key, why the newest file of a blueprint was not
// loaded at the last Reload: the previous version serves instead.
func (l *Library) Rejected() map[string]error {
	v := l.cur.Load()
	out := make(map[string]error, len(v.rejected))
	for k, err := range v.rejected {
		out[k] = err
	}
	return out
}

// version is the library as it is now, for a run to keep.
func (l *Library) version() *libVersion { return l.cur.Load() }

// Program compiles a blueprint of this version on first use.
func (v *libVersion) Program(key string) (*engine.Program, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.progs[key]; ok {
		return e.prog, e.err
	}
	bp, err := v.set.Get(key)
	var prog *engine.Program
	if err == nil {
		prog, err = engine.Compile(bp, v.types)
	}
	v.progs[key] = libEntry{prog, err}
	return prog, err
}

// ReloadReport says what a Reload did.
type ReloadReport struct {
	// Blueprints is how many blueprints the library holds now.
	Blueprints int
	// Rejected are the blueprints whose new file did not load or
	// validate, by key: their previous version keeps serving.
	Rejected map[string]error
	// Invalid are the blueprints that did not load or validate and had no
	// previous version, and the files that gave no blueprint.
	Invalid int
}

// Reload replaces the library's blueprints with those of set, each
// compiled and validated first. A blueprint that does not load or
// validate, and had a valid version before, keeps that version (and is
// reported in Rejected); runs in progress finish on the version they
// started with.
func (l *Library) Reload(set *blueprints.Set) ReloadReport {
	l.reload.Lock()
	defer l.reload.Unlock()
	old := l.cur.Load()
	next := &libVersion{types: l.types, progs: map[string]libEntry{}, rejected: map[string]error{}}
	report := ReloadReport{Rejected: next.rejected}
	var (
		bps  []*engine.Blueprint
		errs []*blueprints.FileError
		have = map[string]bool{}
	)
	// keep puts a blueprint's previous version in next, if it had a
	// valid one.
	keep := func(key string, why error) bool {
		if have[key] {
			return false
		}
		prog, err := old.Program(key)
		if err != nil {
			return false
		}
		bp, _ := old.set.Get(key)
		bps, have[key] = append(bps, bp), true
		next.progs[key] = libEntry{prog: prog}
		next.rejected[key] = why
		return true
	}
	for _, bp := range set.Blueprints {
		prog, err := engine.Compile(bp, l.types)
		if err != nil && keep(bp.Key, err) {
			continue
		}
		bps, have[bp.Key] = append(bps, bp), true
		next.progs[bp.Key] = libEntry{prog, err}
		if err != nil {
			report.Invalid++
		}
	}
	for _, fe := range set.Errors {
		kept := fe.Key != "" && keep(fe.Key, fe)
		// The blueprints the file defined before, whatever key its name
		// suggests.
		for _, bp := range old.set.Blueprints {
			if bp.Source == fe.Path && keep(bp.Key, fe) {
				kept = true
			}
		}
		if !kept {
			errs = append(errs, fe)
			report.Invalid++
		}
	}
	next.set = blueprints.NewSet(bps, errs)
	report.Blueprints = len(next.set.Blueprints)
	l.cur.Store(next)
	return report
}
