package runner

import (
	"sync"

	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
)

// Library compiles the blueprints of a set on first use and keeps them.
// A blueprint that does not load or validate is reported when it is
// selected or called, so one bad file does not stop the others.
type Library struct {
	set   *blueprints.Set
	types engine.TypeResolver

	mu    sync.Mutex
	progs map[string]libEntry
}

type libEntry struct {
	prog *engine.Program
	err  error
}

// NewLibrary makes a library over a set of loaded blueprints.
func NewLibrary(set *blueprints.Set, types engine.TypeResolver) *Library {
	return &Library{set: set, types: types, progs: map[string]libEntry{}}
}

// Set is the blueprints the library holds.
func (l *Library) Set() *blueprints.Set { return l.set }

// Program returns the compiled blueprint with a key.
func (l *Library) Program(key string) (*engine.Program, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.progs[key]; ok {
		return e.prog, e.err
	}
	bp, err := l.set.Get(key)
	var prog *engine.Program
	if err == nil {
		prog, err = engine.Compile(bp, l.types)
	}
	l.progs[key] = libEntry{prog, err}
	return prog, err
}
