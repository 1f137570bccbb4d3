// Package pyrun runs the Python code of code blocks, each in a fresh process.
//
// # Processes
//
// By default (ModeForkServer) a Runner starts, on its first block, one warm
// Python parent: the fork server. It imports the harness and common modules
// once and then only forks. It never runs user code and never sees a
// request, so every block runs in a new child that is a copy of the same
// pristine image: nothing a block does (patching json.dumps, setting a
// global, leaving a thread running) can reach another block.
//
// The server forks children ahead of need ("spares", two at a time). A spare
// runs a dummy block through the harness (so that the copy-on-write faults
// are taken before a block arrives), then waits on a socket of its own, whose
// other end the server passed to Go (SCM_RIGHTS). To run a block, Go creates
// four pipes (request, stdout, stderr, answer) and sends their child ends to
// a spare over that socket: the server is not on the block's path at all. The
// child makes them its fds 0-3 (in its own process group), reads the request
// (code, vault, state, ...) on stdin, which only Go writes, runs the code,
// writes the answer, closes its pipes and exits; Go asks for a replacement
// spare once the block is done (so that the server's fork does not compete
// with the block for a CPU). When a child exits, the server kills the rest of
// its process group (a grandchild left running, even one holding stdout
// open) and reports the exit status. On timeout or cancellation Go kills the
// child's process group. The run stops reading a pipe still held open by a
// process that left the group 200 ms after the child has exited.
//
// If the server dies it is restarted for the next block; if it cannot start
// or fork, blocks run fresh. ModeFresh starts a new `python -I` process per
// block (slower: the interpreter's whole start-up each time).
//
// Secrets never appear in argv or the environment of any of these processes,
// and BP_VAULT_* and BP_SERVER_TOKEN are removed from the interpreter's environment.
//
// # The block's globals
//
// state (a dict; the final state, changed in place or rebound, is returned),
// payload, result, results, vault (a plain dict of the secrets), context,
// item, itemId, Request.Globals, set_output(value), mask(value) (returns
// value), and logger: a logging.Logger named "bp", level INFO, writing
// "LEVEL: message" lines to the block's stderr. __name__ is "__main__".
// Tracebacks show the block as File "<code>", without the harness's frames.
// sys.exit(0) ends the block normally; another code is a ScriptError.
//
// # Output and masks
//
// In the child, sys.stdout, sys.stderr and the logger write framed messages
// to a dedicated answer pipe (fd 3), which also carries mask() values and, last,
// the answer. Output and masks thus arrive in exactly the order the block
// produced them, and print can never corrupt the answer. Python-level output is
// sent by whole lines where possible (a partial line goes out when the other
// stream is written, on flush, when 64 KiB accumulate, or at the end).
// Writes made directly to fds 1 and 2 (C extensions, subprocesses) go to plain
// pipes and are delivered as read; before delivering such bytes Go drains the
// answer pipe, so a mask registered before the bytes were written is always
// delivered to Handler.Mask before them.
//
// # Values
//
// Values cross as JSON. Numbers in the answer decode to int64 when they are
// integers that fit, to float64 otherwise, and integers beyond int64 stay
// json.Number, so 987127 is still an integer when re-encoded.
package pyrun

import (
	"context"
	_ "embed" // the harness
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bprun/bp/internal/sandbox"
)

//go:embed harness.py
var harnessSource string

// Mode selects how blocks are run.
type Mode int

const (
	// ModeForkServer forks every block from a warm Python parent (default).
	ModeForkServer Mode = iota
	// ModeFresh starts a new interpreter process for every block.
	ModeFresh
)

func (m Mode) String() string {
	switch m {
	case ModeForkServer:
		return "forkserver"
	case ModeFresh:
		return "fresh"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Isolation says which blocks may share a Python process.
type Isolation int

const (
	// IsolateBlock runs every block in a process of its own (default).
	IsolateBlock Isolation = iota
	// IsolateRun runs the blocks of one session (Request.Session: the
	// blocks of a run) one after another in one process forked for it,
	// each with fresh globals; blocks that run at once get processes of
	// their own, and a timeout or crash replaces the process. What a block
	// imports or patches stays so for the session's next blocks, as in
	// Writer, where every block shares one interpreter. Sessions never
	// share a process. It applies to the fork server (ModeForkServer).
	IsolateRun
)

func (i Isolation) String() string {
	switch i {
	case IsolateBlock:
		return "block"
	case IsolateRun:
		return "run"
	}
	return fmt.Sprintf("Isolation(%d)", int(i))
}

// Options configure a Runner.
type Options struct {
	// Python is the interpreter: a command looked up in PATH or a path
	// (e.g. a virtualenv's bin/python). Default "python3". It is resolved
	// once to the real executable (sys.executable), skipping shims.
	Python string
	// Mode selects fork server (default) or a fresh process per block.
	Mode Mode
	// Isolation says which blocks may share a process (IsolateBlock, the
	// default: none).
	Isolation Isolation
	// Site runs Python with its site module (and so the code of .pth files:
	// an editable install's import hook, say) instead of -S with the
	// sys.path and prefixes site computes, probed once. .pth files' code
	// weighs on the fork server's image and so on every fork: this
	// machine's add 80 modules and 0.7 ms per block.
	Site bool
	// Preload are modules the fork server imports once, before it forks:
	// each block then has them for the price of its fork rather than of
	// the import (pandas: hundreds of ms). A module that fails to import
	// fails every block with ErrPreload. Ignored in ModeFresh.
	Preload []string
	// Env is added to the interpreter's environment (KEY=VALUE), after the
	// inherited one. bp's own variables (BP_*) are removed from both, and
	// TMPDIR (TMP, TEMP) names the runner's private temporary directory.
	Env []string

	// Sandbox is how far the Python processes must be confined (see
	// package internal/sandbox): ModeAuto (the default) as far as the
	// system allows, ModeRequire or no block runs, ModeOff not at all.
	Sandbox sandbox.Mode
	// AllowRead and AllowWrite are trees blocks may read, or read and
	// write, besides the system's libraries and configuration, the
	// interpreter's own trees and the runner's private temporary
	// directory (the blueprints' folder, a data directory).
	AllowRead, AllowWrite []string
	// Deny are files and trees blocks may not reach even beneath
	// AllowRead or AllowWrite: bp's vault, key files, history and
	// configuration. They need not exist yet.
	Deny []string
	// Memory bounds each block's memory in bytes: the heap, anonymous
	// mappings and thread stacks a block's process may hold (RLIMIT_DATA,
	// which also bounds a preloaded module's share). 0 means
	// DefaultMemory; negative means no bound.
	Memory int64
	// OpenFiles bounds the files each block may hold open; 0 means
	// DefaultOpenFiles, negative no bound.
	OpenFiles int
	// CacheDir keeps what Python says of itself (its executable behind a
	// shim, its sys.path) between processes, so that a run need not ask
	// it again: probing costs a Python start, several behind pyenv's shim.
	// An entry is used only while the files it depends on are unchanged.
	// "" keeps it in this process only.
	CacheDir string
}

// Limits a block runs under unless Options say otherwise.
const (
	DefaultMemory    = 1 << 30
	DefaultOpenFiles = 1024
)

// Request is one block to run.
type Request struct {
	Code    string
	Vault   map[string]string
	State   map[string]any
	Payload any
	Result  any
	Results any
	Context any
	Item    any
	ItemID  any
	// Globals are additional globals (e.g. "<prefix>_item"); the standard
	// names (state, vault, set_output, ...) take precedence.
	Globals map[string]any
	// Timeout bounds the block; zero means no bound other than ctx.
	Timeout time.Duration
	// Session groups the blocks that may share a process under
	// IsolateRun (a run's id and its blueprint's key, say); "" shares
	// with none. EndSessions lets its process go.
	Session string
}

// wireRequest is what the child reads on its stdin.
type wireRequest struct {
	Code    string            `json:"code"`
	Vault   map[string]string `json:"vault"`
	State   map[string]any    `json:"state"`
	Payload any               `json:"payload"`
	Result  any               `json:"result"`
	Results any               `json:"results"`
	Context any               `json:"context"`
	Item    any               `json:"item"`
	ItemID  any               `json:"itemId"`
	Globals map[string]any    `json:"globals,omitempty"`
}

// Stream names passed to Handler.Output.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Handler receives what a block emits while it runs. Calls for one Run come
// from the goroutine that called Run, one at a time, in order.
type Handler interface {
	// Output is called with bytes the block wrote to stream (Stdout or
	// Stderr). p is only valid during the call.
	Output(stream string, p []byte)
	// Mask is called when the block registers a runtime secret with
	// mask(value), before any output that follows it.
	Mask(value string)
}

// Funcs adapts functions to Handler; nil fields ignore their events.
type Funcs struct {
	OutputFunc func(stream string, p []byte)
	MaskFunc   func(value string)
}

// Output implements Handler.
func (f Funcs) Output(stream string, p []byte) {
	if f.OutputFunc != nil {
		f.OutputFunc(stream, p)
	}
}

// Mask implements Handler.
func (f Funcs) Mask(value string) {
	if f.MaskFunc != nil {
		f.MaskFunc(value)
	}
}

// Response is the answer of a block that ran.
type Response struct {
	// Value is what the block passed to set_output; HasValue says whether it
	// called set_output at all.
	Value    any
	HasValue bool
	// State is the block's final state dict (changes are written back).
	State map[string]any
	// Masks are the values the block passed to mask(), in order.
	Masks []string
	// Error is set when the block raised an exception (or called sys.exit
	// with a non-zero code).
	Error *ScriptError
}

// ScriptError is an exception raised by the block's code.
type ScriptError struct {
	Type    string `json:"type"`    // e.g. "ZeroDivisionError", "requests.exceptions.HTTPError"
	Message string `json:"message"` // str(exception)
	// Traceback is Python's formatted traceback of the block's code (the
	// harness's own frames removed), ending with "Type: message".
	Traceback string `json:"traceback"`
	// Hint is bp's own line about what may have caused it, or "".
	Hint string `json:"-"`
}

func (e *ScriptError) Error() string {
	var s string
	switch {
	case e.Traceback != "":
		s = strings.TrimRight(e.Traceback, "\n")
	case e.Message == "":
		s = e.Type
	default:
		s = e.Type + ": " + e.Message
	}
	if e.Hint != "" {
		s += "\nhint: " + e.Hint
	}
	return s
}

var (
	// ErrTimeout is wrapped by the error of a block that ran out of time:
	// "timed out after 2s".
	ErrTimeout = errors.New("timed out")
	// ErrNotSerializable is wrapped by the error of a block whose result
	// or state cannot be encoded as JSON.
	ErrNotSerializable = errors.New("not JSON-serializable")
	// ErrPreload is wrapped by the error of every block of a runner whose
	// fork server could not import a module of Options.Preload.
	ErrPreload = errors.New("preload failed")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("pyrun: runner is closed")
)

// ExitError is the error of a block whose interpreter ended before it
// answered (os._exit, a crash, a signal).
type ExitError struct {
	Status int            // exit status, when Signal is 0
	Signal syscall.Signal // the signal that killed it, or 0
	// Unknown is set when the status could not be learned (the fork server
	// died while the block ran).
	Unknown bool
}

func (e *ExitError) Error() string {
	switch {
	case e.Unknown:
		return "python exited before answering"
	case e.Signal != 0:
		return fmt.Sprintf("python was killed by signal %d (%v) before answering", int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("python exited with status %d before answering", e.Status)
}

// answerError is an error reported by the harness (JSON encoding, request).
type answerError struct{ msg string }

func (e *answerError) Error() string { return e.msg }

func (e *answerError) Is(target error) bool {
	return target == ErrNotSerializable && strings.Contains(e.msg, "not JSON-serializable")
}

// Runner runs Python blocks. It is safe for concurrent use.
type Runner struct {
	py      interpreter
	site    bool
	preload []string
	env     []string
	mode    Mode
	limits  limits
	sandbox *sandbox.Sandbox
	tmp     string // the blocks' private temporary directory

	isolation Isolation
	workers   map[string][]worker // IsolateRun: idle processes by session (mu)
	later     *time.Timer         // a pending start of the fork server (mu)

	mu       sync.Mutex
	srv      *server
	failures int   // consecutive fork server start failures
	forkErr  error // set once the fork server is given up
	closed   bool
}

// New resolves the interpreter (running it once); the fork server starts
// with the first block, or with Start.
func New(opts Options) (*Runner, error) {
	if opts.Mode != ModeForkServer && opts.Mode != ModeFresh {
		return nil, fmt.Errorf("pyrun: unknown mode %d", int(opts.Mode))
	}
	env := buildEnv(os.Environ(), opts.Env)
	if err := CheckModules(opts.Preload); err != nil {
		return nil, fmt.Errorf("pyrun: preload: %w", err)
	}
	py, err := resolve(opts.Python, env, opts.CacheDir)
	if err != nil {
		return nil, err
	}
	if opts.Sandbox != sandbox.ModeOff && !py.ctypes && runtime.GOOS == "linux" {
		// Without ctypes a block can neither isolate itself from the
		// others nor keep what it starts from outliving it.
		if opts.Sandbox == sandbox.ModeRequire {
			return nil, fmt.Errorf("pyrun: %w: %s has no ctypes module", sandbox.ErrUnavailable, py.path)
		}
	}
	tmp, err := os.MkdirTemp("", "bp-python-*")
	if err != nil {
		return nil, fmt.Errorf("pyrun: temporary directory: %w", err)
	}
	sb, err := sandbox.New(policy(py, tmp, opts), opts.Sandbox)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("pyrun: %w", err)
	}
	if opts.Isolation != IsolateBlock && opts.Isolation != IsolateRun {
		os.RemoveAll(tmp)
		sb.Close()
		return nil, fmt.Errorf("pyrun: unknown isolation %d", int(opts.Isolation))
	}
	return &Runner{
		py: py, site: opts.Site, preload: opts.Preload, mode: opts.Mode, isolation: opts.Isolation,
		workers: map[string][]worker{},
		env:     withTemp(env, tmp),
		limits:  limitsOf(opts),
		sandbox: sb,
		tmp:     tmp,
	}, nil
}

// Sandbox reports how the runner's Python processes are confined.
func (r *Runner) Sandbox() sandbox.Status {
	st := r.sandbox.Status()
	if st.Confined() && !r.py.ctypes && runtime.GOOS == "linux" {
		st.Reason = r.py.path + " has no ctypes module: blocks are not isolated from each other, and what they start may outlive them"
	}
	return st
}

// Python returns the resolved interpreter path.
func (r *Runner) Python() string { return r.py.path }

// Version returns the interpreter's version ("3.11").
func (r *Runner) Version() string { return r.py.version }

// Mode returns the runner's mode.
func (r *Runner) Mode() Mode { return r.mode }

// Start starts the fork server now (it otherwise starts with the first
// block) and waits until it is ready. It does nothing in ModeFresh.
func (r *Runner) Start(ctx context.Context) error {
	if r.mode != ModeForkServer {
		return nil
	}
	_, err := r.server(ctx, true)
	return err
}

// Close stops the fork server, killing blocks still running in it.
func (r *Runner) Close() error {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.closed = true
	if r.later != nil {
		r.later.Stop()
	}
	for session := range r.workers {
		r.endSessionLocked(session)
	}
	r.mu.Unlock()
	if srv != nil {
		srv.close()
	}
	r.sandbox.Close() // Pdeathsig: fresh blocks still running die with it
	return os.RemoveAll(r.tmp)
}

// Run runs one block. It returns (resp, nil) when the block's code ran, even
// if it raised (resp.Error); an error when it could not run or answer: a
// timeout (wrapping ErrTimeout), cancellation (wrapping ctx.Err()), a crash
// (*ExitError), a result or state that is not JSON-serializable (wrapping
// ErrNotSerializable), or a failure to start Python. h may be nil.
func (r *Runner) Run(ctx context.Context, req *Request, h Handler) (*Response, error) {
	resp, err := r.run(ctx, req, h)
	if resp != nil && resp.Error != nil {
		resp.Error.Hint = r.hint(resp.Error)
	}
	return resp, err
}

// hint is a line on what may have caused a block's exception, or "": its
// memory limit, for a MemoryError; for an import that fails where the interpreter's .pth files would have run code
// that -S skipped (an editable install's import hook, say).
func (r *Runner) hint(e *ScriptError) string {
	if e.Type == "MemoryError" && r.limits.Data > 0 {
		return "a block may hold " + formatBytes(r.limits.Data) + " of memory (--python-memory)"
	}
	if r.site || len(r.py.pthCode) == 0 || (e.Type != "ModuleNotFoundError" && e.Type != "ImportError") {
		return ""
	}
	return fmt.Sprintf("bp runs Python without the code in its .pth files (%s); if the module comes from one (an editable install), run with --python-site or BP_PYTHON_SITE=1",
		strings.Join(r.py.pthCode, ", "))
}

func (r *Runner) run(ctx context.Context, req *Request, h Handler) (*Response, error) {
	if req == nil {
		return nil, errors.New("pyrun: nil request")
	}
	if h == nil {
		h = Funcs{}
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	data, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("python block cancelled: %w", err)
	}
	if r.mode == ModeForkServer {
		// A block that comes while the server is still starting runs fresh
		// rather than wait: a new interpreter answers sooner than one that
		// starts and then forks (a blueprint's single code block, say). With
		// preloads it waits: it needs what the server imports.
		srv, err := r.server(ctx, len(r.preload) > 0)
		if errors.Is(err, errNotStarted) {
			// No block needed the server so far (Warm saw one code block):
			// start it for later blocks a moment after this one, so that it
			// does not compete with this one for the CPU, nor start at all
			// when the run (and its runner, in bp run) ends first.
			defer r.startLater()
			return r.runFresh(ctx, req, data, h)
		}
		if errors.Is(err, errNotReady) {
			return r.runFresh(ctx, req, data, h)
		}
		if err == nil {
			resp, err := r.runFork(ctx, srv, req, data, h)
			if !errors.Is(err, errServerLost) {
				return resp, err
			}
			// The server died (or could not fork) before this block was
			// handed to a child: run it fresh; the next block restarts
			// the server.
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed {
				return nil, ErrClosed
			}
		} else if errors.Is(err, ErrClosed) || errors.Is(err, ErrPreload) {
			return nil, err
		} else if ctx.Err() != nil {
			return nil, fmt.Errorf("python block cancelled: %w", ctx.Err())
		}
	}
	return r.runFresh(ctx, req, data, h)
}

// laterStart is how long after a first block the fork server starts, when
// no Warm started it (see run).
const laterStart = 100 * time.Millisecond

// startLater starts the fork server laterStart from now, unless it is
// started or the runner is closed by then.
func (r *Runner) startLater() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.later != nil {
		return
	}
	r.later = time.AfterFunc(laterStart, func() { _ = r.Start(context.Background()) })
}

// server's answers when asked not to wait: the fork server is starting, or
// was never started.
var (
	errNotReady   = errors.New("pyrun: fork server not ready yet")
	errNotStarted = errors.New("pyrun: fork server not started")
)

// server returns a running fork server, starting one if needed, and waits
// until it is ready; or (wait false) returns errNotReady when it is not,
// errNotStarted when there is none. It returns an error when forking is not
// available (the caller falls back to fresh).
func (r *Runner) server(ctx context.Context, wait bool) (*server, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if r.forkErr != nil {
		r.mu.Unlock()
		return nil, r.forkErr
	}
	srv := r.srv
	if srv == nil && !wait {
		r.mu.Unlock()
		return nil, errNotStarted
	}
	if srv != nil && srv.isDead() && !srv.isReady() && !srv.counted {
		// It died starting, and no block waited to see it (they ran
		// fresh): count it here.
		srv.counted = true
		select {
		case <-srv.exited: // its stderr is all read then
		case <-time.After(time.Second):
		}
		r.failed(fmt.Errorf("pyrun: fork server exited at start%s", srv.stderrTail()))
		if r.forkErr != nil {
			r.mu.Unlock()
			return nil, r.forkErr
		}
	}
	if srv == nil || srv.isDead() {
		var err error
		srv, err = r.startServer()
		if err != nil {
			r.failed(err)
			r.mu.Unlock()
			return nil, err
		}
		r.srv = srv
	}
	r.mu.Unlock()

	if !wait {
		select {
		case <-srv.ready:
		case <-srv.dead: // a failed start: counted below, at once
		default:
			return nil, errNotReady
		}
	}
	startTimeout := serverStartTimeout
	if len(r.preload) > 0 {
		startTimeout = preloadStartTimeout
	}
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case <-srv.ready:
		r.mu.Lock()
		r.failures = 0
		r.mu.Unlock()
		return srv, nil
	case <-srv.dead:
		<-srv.exited // its stderr is all read then
		if len(r.preload) > 0 && srv.preloadFailed() {
			// Not the machine: the user's module. Every block says so;
			// running them fresh would only hide it.
			err := fmt.Errorf("pyrun%s: %w", srv.stderrTail(), ErrPreload)
			r.mu.Lock()
			r.forkErr = err
			r.mu.Unlock()
			return nil, err
		}
		err := fmt.Errorf("pyrun: fork server exited at start%s", srv.stderrTail())
		r.mu.Lock()
		if r.srv == srv && !srv.counted {
			srv.counted = true
			r.failed(err)
		}
		r.mu.Unlock()
		return nil, err
	case <-t.C:
		err := fmt.Errorf("pyrun: fork server did not start within %v", startTimeout)
		r.mu.Lock()
		if r.srv == srv {
			r.srv = nil
			if len(r.preload) > 0 {
				// The preloads, most likely: the user's to fix, not a
				// reason to run every block without them.
				err = fmt.Errorf("pyrun: preloading %s took longer than %v: %w", strings.Join(r.preload, ","), startTimeout, ErrPreload)
				r.forkErr = err
			} else {
				r.failed(err)
			}
		}
		r.mu.Unlock()
		srv.close()
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// failed records a fork server start failure; r.mu is held.
func (r *Runner) failed(err error) {
	r.failures++
	if r.failures >= maxStartFailures {
		r.forkErr = fmt.Errorf("pyrun: fork server unavailable, using fresh processes: %w", err)
	}
}

const (
	serverStartTimeout = 30 * time.Second
	// preloadStartTimeout bounds a start that imports Options.Preload
	// (a cold import of a large library takes tens of seconds).
	preloadStartTimeout = 5 * time.Minute
	maxStartFailures    = 3
)

// modulePattern is a dotted Python module name.
var modulePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// CheckModules reports the first of names that is not a Python module
// name (such as "pandas" or "urllib.parse").
func CheckModules(names []string) error {
	for _, m := range names {
		if !modulePattern.MatchString(m) {
			return fmt.Errorf("%q is not a Python module name", m)
		}
	}
	return nil
}

// argv is the command line of the harness in mode ("serve" or "child"):
// its configuration, which holds no secret, is its last argument.
func (r *Runner) argv(mode string) []string {
	config := harnessConfig{Site: r.py.site, Limits: r.limits}
	if mode == "serve" {
		config.Preload = r.preload
	}
	flags := []string{"-I", "-S"}
	if r.site {
		flags, config.Site = []string{"-I"}, nil
	}
	b, _ := json.Marshal(&config)
	code := harnessSource
	if len(r.py.harness) > 0 {
		code = loadHarness // the harness compiled, on fd 4 (harnessPipe)
	}
	return append(append([]string{r.py.path}, flags...), "-c", code, mode, string(b))
}

// loadHarness runs the compiled harness that harnessPipe passes on fd 4,
// which it closes first: blocks do not inherit it.
const loadHarness = `import marshal, os
code = b"".join(iter(lambda: os.read(4, 65536), b""))
os.close(4)
del os
exec(marshal.loads(code))`

// harnessPipe returns the read end of a pipe that holds the compiled
// harness (nil when argv passes its source instead), to be a process's fd
// 4; the caller closes it once the process has started.
func (r *Runner) harnessPipe() (*os.File, error) {
	if len(r.py.harness) == 0 {
		return nil, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pyrun: harness pipe: %w", err)
	}
	defer pw.Close()
	if len(r.py.harness) > pipeCapacity {
		// Room for it all, so that the write need not wait for a reader.
		_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, len(r.py.harness))
	}
	if _, err := pw.Write(r.py.harness); err != nil {
		pr.Close()
		return nil, fmt.Errorf("pyrun: harness pipe: %w", err)
	}
	return pr, nil
}

// pipeCapacity is a pipe's default capacity on Linux.
const pipeCapacity = 64 << 10

// harnessConfig is the harness's last argument.
type harnessConfig struct {
	Site    json.RawMessage `json:"site,omitempty"`
	Preload []string        `json:"preload,omitempty"`
	Limits  limits          `json:"limits"`
}

// limits are a block's resource limits (0: none).
type limits struct {
	Data   int64 `json:"data"`   // RLIMIT_DATA, bytes
	NoFile int   `json:"nofile"` // RLIMIT_NOFILE
}

func limitsOf(opts Options) limits {
	l := limits{Data: opts.Memory, NoFile: opts.OpenFiles}
	if l.Data == 0 {
		l.Data = DefaultMemory
	}
	if l.NoFile == 0 {
		l.NoFile = DefaultOpenFiles
	}
	return limits{Data: max(l.Data, 0), NoFile: max(l.NoFile, 0)}
}

// buildEnv is base plus extra, without bp's own variables (BP_*): the
// vault's key and passphrase, the server's token, and where bp keeps its
// files never reach a block's code.
func buildEnv(base, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra)+3)
	for _, list := range [][]string{base, extra} {
		for _, kv := range list {
			if strings.HasPrefix(kv, "BP_") {
				continue
			}
			env = append(env, kv)
		}
	}
	return env
}

// withTemp points env's temporary directory variables at dir.
func withTemp(env []string, dir string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "TMPDIR" && name != "TMP" && name != "TEMP" {
			out = append(out, kv)
		}
	}
	return append(out, "TMPDIR="+dir, "TMP="+dir, "TEMP="+dir)
}

// formatBytes writes n as people write memory sizes: 256 MiB, 1 GiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
