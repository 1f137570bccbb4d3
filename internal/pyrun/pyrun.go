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
// # Systems
//
// The fork server needs Linux (SOCK_SEQPACKET UNIX sockets, a child
// subreaper): on macOS and the BSDs every block runs fresh, and descendants
// that leave a block's process group are not found. On Windows, New fails
// with ErrUnsupported: the runner's protocol is made of inherited
// descriptors and process groups.
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
	_ "embed" // the harness
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/bprun/bp/internal/sandbox"
)

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
