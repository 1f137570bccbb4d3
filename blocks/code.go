package blocks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/pyrun"
)

// Code runs a block's Python code in a fresh child process, forked from a
// warm fork server started on first use. The child gets its request,
// secrets included, on its own stdin pipe; what it prints becomes the
// block's output, and set_output's value its result.
type Code struct {
	opts pyrun.Options

	once   sync.Once
	runner *pyrun.Runner
	err    error
}

var codeSpec = &engine.TypeSpec{
	Name: "code", Doc: "Runs Python code in a fresh, isolated process.",
	Fields: []engine.FieldSpec{
		{Name: "code", Kind: engine.FieldText, Type: engine.TypeString, Required: true},
		{Name: "timeout", Kind: engine.FieldText, Type: engine.TypeString | engine.TypeNumber, Doc: "default 60s", Check: engine.CheckDuration},
	},
	Outcomes:       []string{"success", "error"},
	DefaultTimeout: 60 * time.Second,
}

// NewCode makes the code block type from opts' Python settings.
func NewCode(opts Options) *Code {
	mode := pyrun.ModeForkServer
	if opts.PythonFresh {
		mode = pyrun.ModeFresh
	}
	isolation := pyrun.IsolateBlock
	if opts.PythonIsolateRun {
		isolation = pyrun.IsolateRun
	}
	return &Code{opts: pyrun.Options{
		Python: opts.Python, Mode: mode, Isolation: isolation, Site: opts.PythonSite, Preload: opts.PythonPreload,
		Sandbox: opts.PythonSandbox, AllowRead: opts.PythonAllowRead, AllowWrite: opts.PythonAllowWrite,
		Deny: opts.PythonDeny, Memory: opts.PythonMemory, CacheDir: opts.PythonCache,
	}}
}

func (*Code) Spec() *engine.TypeSpec { return codeSpec }

// Close stops the fork server.
func (t *Code) Close() error {
	// Through the once: it orders this read after a start in progress, and
	// keeps a later block from starting a server nobody would close.
	t.once.Do(func() { t.err = errors.New("code blocks are closed") })
	if t.runner != nil {
		return t.runner.Close()
	}
	return nil
}

// Warm resolves the interpreter and, for a blueprint that may run more
// than one code block, starts the fork server as its run starts, so that
// the blocks before the first code block (an HTTP request, say) hide the
// tens of milliseconds this takes. A single code block runs in a fresh
// process sooner than a server starts and forks: it gets none. Errors are
// the block's to report.
func (t *Code) Warm(ctx context.Context, bp *engine.Blueprint) {
	r, err := t.python()
	if err != nil || !manyCodeBlocks(bp) {
		return
	}
	_ = r.Start(ctx)
}

// manyCodeBlocks reports whether a run of bp may run more than one code
// block: it has two, or a loop, or calls another blueprint.
func manyCodeBlocks(bp *engine.Blueprint) bool {
	code := 0
	for _, b := range bp.Blocks {
		switch strings.TrimPrefix(b.Type, "blueprints_") {
		case codeSpec.Name:
			code++
		case "foreach", "runblueprint":
			return true
		}
	}
	return code > 1
}

// EndRun lets the processes the run's blocks shared go (IsolateRun).
func (t *Code) EndRun(runID string) {
	if t.opts.Isolation != pyrun.IsolateRun {
		return
	}
	if r, err := t.python(); err == nil {
		r.EndSessions(runID + "/")
	}
}

func (t *Code) python() (*pyrun.Runner, error) {
	t.once.Do(func() { t.runner, t.err = pyrun.New(t.opts) })
	return t.runner, t.err
}

func (t *Code) Run(ctx context.Context, c *engine.Call) engine.Result {
	code, err := c.String("code")
	if err != nil {
		return engine.Failure(err)
	}
	py, err := t.python()
	if err != nil {
		return engine.Failure(fmt.Errorf("python: %w", err))
	}
	if st := py.Sandbox(); st.Reason != "" {
		c.WarnOnce("code blocks are not fully sandboxed: " + st.Reason)
	}
	secrets, err := c.Secrets()
	if err != nil {
		return engine.Failure(err)
	}
	d := c.Data()
	req := &pyrun.Request{
		Code: code, Vault: secrets, State: d.State, Payload: d.Payload, Result: d.Result,
		Results: d.Results, Context: d.Context, Item: d.Item, ItemID: d.ItemID,
		// The blocks of a blueprint in a run may share a process
		// (IsolateRun); a blueprint it calls, which may see other
		// secrets, has its own.
		Session: c.RunID() + "/" + c.Blueprint().Key,
	}
	out := &lineOutput{c: c}
	resp, err := py.Run(ctx, req, out)
	out.flush()
	if err != nil {
		return engine.Failure(err)
	}
	if resp.State != nil {
		after, _ := engine.Normalize(resp.State).(map[string]any)
		set, deleted := stateChanges(d.State, after)
		c.MergeState(set, deleted)
	}
	if resp.Error != nil {
		return engine.Failure(resp.Error)
	}
	if !resp.HasValue {
		return engine.Success(nil)
	}
	return engine.Success(engine.Normalize(resp.Value))
}

// lineOutput turns the child's output into whole lines, so that a secret
// printed in pieces reaches the scrubber in one piece.
type lineOutput struct {
	c   *engine.Call
	buf [2]bytes.Buffer // stdout, stderr
}

const maxLine = 64 << 10

func (o *lineOutput) Output(stream string, p []byte) {
	i := 0
	if stream == pyrun.Stderr {
		i = 1
	}
	b := &o.buf[i]
	b.Write(p)
	if k := bytes.LastIndexByte(b.Bytes(), '\n'); k >= 0 {
		o.c.Output(stream, string(b.Next(k+1)))
	} else if b.Len() > maxLine {
		o.c.Output(stream, b.String())
		b.Reset()
	}
}

// Mask registers a value the code found at run time as a secret.
func (o *lineOutput) Mask(value string) { o.c.Mask(value) }

func (o *lineOutput) flush() {
	for i, stream := range []string{pyrun.Stdout, pyrun.Stderr} {
		if o.buf[i].Len() > 0 {
			o.c.Output(stream, o.buf[i].String())
			o.buf[i].Reset()
		}
	}
}

// stateChanges finds the top-level keys the code set or deleted, so that
// blocks running in parallel only write back what they changed.
func stateChanges(before, after map[string]any) (map[string]any, []string) {
	set := map[string]any{}
	for k, v := range after {
		old, ok := before[k]
		if !ok || !sameJSON(old, v) {
			set[k] = v
		}
	}
	var deleted []string
	for k := range before {
		if _, ok := after[k]; !ok {
			deleted = append(deleted, k)
		}
	}
	return set, deleted
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
