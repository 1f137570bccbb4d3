// Package blocks implements bp's block types and the registry that maps
// type names to them, as database/sql drivers implement database/sql.
package blocks

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/pyrun"
	"github.com/bprun/bp/internal/sandbox"
)

// Registry maps block type names to implementations. It satisfies
// engine.TypeResolver. A program embedding bp can register its own types,
// including Writer's AI blocks, before compiling blueprints.
type Registry struct {
	mu      sync.RWMutex
	types   map[string]engine.BlockType
	closers []io.Closer
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[string]engine.BlockType{}}
}

// Register adds a block type under its spec's name, replacing any type of
// that name. Types that hold resources (a Python fork server) implement
// io.Closer and are closed with the registry.
func (r *Registry) Register(t engine.BlockType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := strings.TrimPrefix(t.Spec().Name, "blueprints_")
	r.types[name] = t
	if c, ok := t.(io.Closer); ok {
		r.closers = append(r.closers, c)
	}
}

// BlockType finds a type by name, with or without Writer's prefix.
func (r *Registry) BlockType(name string) (engine.BlockType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[strings.TrimPrefix(name, "blueprints_")]
	return t, ok
}

// Names lists the registered types.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close releases the resources of the registered types.
func (r *Registry) Close() error {
	r.mu.Lock()
	closers := r.closers
	r.closers = nil
	r.mu.Unlock()
	var errs []error
	for _, c := range closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Core registers the block types that need nothing outside the process:
// triggers, state, return, log, JSON, branches, loops and calls.
func Core(r *Registry) {
	for _, t := range []engine.BlockType{
		newTrigger("apitrigger", "Starts a run from the API or the CLI."),
		newTrigger("uieventtrigger", "Starts a run from a UI event (Writer)."),
		newTrigger("crontrigger", "Starts a run on a schedule (Writer)."),
		SetState{}, AddToStateList{}, ReturnValue{}, LogMessage{}, ParseJSON{},
		IfElse{}, ForEach{}, RunBlueprint{},
	} {
		r.Register(t)
	}
}

// Options configure the block types that reach outside the process.
type Options struct {
	// Python is the interpreter for code blocks; empty means python3.
	Python string
	// PythonFresh runs each code block in a new python3 -I process instead
	// of forking it from a warm fork server.
	PythonFresh bool
	// PythonIsolateRun runs the code blocks of a run (of one blueprint)
	// one after another in one process forked for the run, each with fresh
	// globals, instead of a process per block: faster, but what a block
	// imports or patches stays so for the run's next blocks (as in Writer).
	PythonIsolateRun bool
	// PythonSite runs the site module's .pth files in code blocks' Python
	// (an editable install's import hook, say). Without it, blocks see the
	// same sys.path but no .pth file runs code: a smaller fork server image,
	// forked faster.
	PythonSite bool
	// PythonPreload are modules the fork server imports once, so that
	// every code block has them without paying for the import.
	PythonPreload []string
	// PythonSandbox is how far code blocks must be confined: auto (as far
	// as the system allows, warning about the rest), require (no code
	// block runs unconfined), off.
	PythonSandbox sandbox.Mode
	// PythonAllowRead and PythonAllowWrite are trees code blocks may read,
	// or read and write, besides the system's, the interpreter's and a
	// private temporary directory: the blueprints' folder, data.
	PythonAllowRead, PythonAllowWrite []string
	// PythonDeny are what code blocks may not reach even beneath the trees
	// they may: bp's vault, key files, history and configuration.
	PythonDeny []string
	// PythonMemory bounds each code block's memory in bytes; 0 is
	// pyrun.DefaultMemory, negative no bound.
	PythonMemory int64
	// PythonCache is a directory where what the interpreter says of itself
	// is kept between processes ("" for none).
	PythonCache string
	// HTTP configures the httprequest block.
	HTTP HTTPOptions
}

// Check reports settings that cannot work, before any block runs.
func (o Options) Check() error {
	if err := pyrun.CheckModules(o.PythonPreload); err != nil {
		return fmt.Errorf("python preload: %w", err)
	}
	return nil
}

// Default returns a registry with every built-in block type.
func Default(opts Options) *Registry {
	r := NewRegistry()
	Core(r)
	r.Register(NewHTTPRequest(opts.HTTP))
	r.Register(NewCode(opts))
	return r
}
