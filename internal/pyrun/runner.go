//go:build unix

package pyrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bprun/bp/internal/sandbox"
)

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
	if !forkServer {
		opts.Mode = ModeFresh
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
		growPipe(int(pw.Fd()), len(r.py.harness))
	}
	if _, err := pw.Write(r.py.harness); err != nil {
		pr.Close()
		return nil, fmt.Errorf("pyrun: harness pipe: %w", err)
	}
	return pr, nil
}

// pipeCapacity is a pipe's default capacity on Linux.
const pipeCapacity = 64 << 10
