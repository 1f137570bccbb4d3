package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// runFlags are the flags of the commands that run blueprints.
type runFlags struct {
	vaultPath       string
	python          string
	pythonMode      string
	pythonIsolation string
	pythonSite      bool
	preload         []string
	history         string
	noHistory       bool
	maxParallel     int
	timeout         time.Duration
	sandbox         sandboxFlags
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.vaultPath, "vault", "", "vault file (default $BP_VAULT, else $XDG_DATA_HOME/bp/vault.db)")
	cmd.Flags().StringVar(&f.python, "python", "", "Python interpreter for code blocks (default $BP_PYTHON, else python3)")
	cmd.Flags().StringVar(&f.pythonIsolation, "python-isolation", "", "which code blocks share a process: block (none: each block its own, default) or run (a run's blocks one after another in one process, each with fresh globals: faster; what a block imports or patches stays for the next); default $BP_PYTHON_ISOLATION")
	cmd.Flags().StringVar(&f.pythonMode, "python-mode", "", "how code blocks start: fork (a fresh child of a warm fork server, default) or fresh (a new python -I per block); default $BP_PYTHON_MODE")
	cmd.Flags().BoolVar(&f.pythonSite, "python-site", false, "run the site module's .pth files in code blocks' Python (for an editable install's import hook; slower forks); default $BP_PYTHON_SITE=1")
	cmd.Flags().StringSliceVar(&f.preload, "python-preload", nil, "modules the Python fork server imports once, so that every code block has them without paying for the import (e.g. pandas,requests; fork mode only); default $BP_PYTHON_PRELOAD")
	cmd.Flags().StringVar(&f.sandbox.mode, "python-sandbox", "", "how far code blocks must be confined: auto (as far as the system allows, with a warning about the rest), require (refuse to run them unconfined) or off; default $BP_PYTHON_SANDBOX, else auto")
	cmd.Flags().StringSliceVar(&f.sandbox.allowRead, "python-allow-read", nil, "more files and trees code blocks may read (besides the system's, the interpreter's and the blueprints' folder); default $BP_PYTHON_ALLOW_READ, a path list")
	cmd.Flags().StringSliceVar(&f.sandbox.allowWrite, "python-allow-write", nil, "files and trees code blocks may write (besides their own temporary directory); default $BP_PYTHON_ALLOW_WRITE, a path list")
	cmd.Flags().StringVar(&f.sandbox.memory, "python-memory", "", "memory each code block may hold (heap, mappings, thread stacks), e.g. 512MiB; 0 for no bound; default $BP_PYTHON_MEMORY, else 1GiB")
	cmd.Flags().StringVar(&f.history, "history", "", "run history file (default $BP_HISTORY, else $XDG_DATA_HOME/bp/history.db)")
	cmd.Flags().BoolVar(&f.noHistory, "no-history", false, "do not record the run in the history")
	cmd.Flags().IntVar(&f.maxParallel, "max-parallel", engine.DefaultMaxParallel, "blocks that may run at once")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "bound on the whole run (e.g. 30s; 0 for none)")
}

// blockOptions are the block types' settings from flags and environment.
// Code blocks may read the trees in readable (the blueprints' folder).
func (f *runFlags) blockOptions(readable ...string) blocks.Options {
	python := f.python
	if python == "" {
		python = os.Getenv("BP_PYTHON")
	}
	mode := f.pythonMode
	if mode == "" {
		mode = os.Getenv("BP_PYTHON_MODE")
	}
	site := f.pythonSite || os.Getenv("BP_PYTHON_SITE") == "1"
	list := f.preload
	if len(list) == 0 && os.Getenv("BP_PYTHON_PRELOAD") != "" {
		list = strings.Split(os.Getenv("BP_PYTHON_PRELOAD"), ",")
	}
	var preload []string // "pandas, numpy," is two modules
	for _, m := range list {
		if m = strings.TrimSpace(m); m != "" {
			preload = append(preload, m)
		}
	}
	sandboxMode, _ := f.sandboxMode() // checkPython reports errors
	memory, _ := f.pythonMemory()     // checkPython reports errors
	isolation := f.pythonIsolation
	if isolation == "" {
		isolation = os.Getenv("BP_PYTHON_ISOLATION")
	}
	return blocks.Options{
		Python: python, PythonFresh: mode == "fresh", PythonIsolateRun: isolation == "run",
		PythonSite: site, PythonPreload: preload,
		PythonSandbox:    sandboxMode,
		PythonAllowRead:  append(readable, allowed(f.sandbox.allowRead, "BP_PYTHON_ALLOW_READ")...),
		PythonAllowWrite: allowed(f.sandbox.allowWrite, "BP_PYTHON_ALLOW_WRITE"),
		PythonDeny:       f.protectedPaths(),
		PythonMemory:     memory,
		PythonCache:      cacheDir(),
	}
}

// checkPython refuses a mode that is neither fork nor fresh, and a preload
// that is not a module name.
func (f *runFlags) checkPython() error {
	mode := f.pythonMode
	if mode == "" {
		mode = os.Getenv("BP_PYTHON_MODE")
	}
	if mode != "" && mode != "fork" && mode != "fresh" {
		return withCode(exitUsage, fmt.Errorf("python mode must be fork or fresh, not %q", mode))
	}
	isolation := f.pythonIsolation
	if isolation == "" {
		isolation = os.Getenv("BP_PYTHON_ISOLATION")
	}
	if isolation != "" && isolation != "block" && isolation != "run" {
		return withCode(exitUsage, fmt.Errorf("--python-isolation must be block or run, not %q", isolation))
	}
	if _, err := f.sandboxMode(); err != nil {
		return withCode(exitUsage, fmt.Errorf("--python-sandbox: %w", err))
	}
	if _, err := f.pythonMemory(); err != nil {
		return withCode(exitUsage, fmt.Errorf("--python-memory: %w", err))
	}
	if err := f.blockOptions().Check(); err != nil {
		return withCode(exitUsage, err)
	}
	return nil
}

// vaultPathOrEnv is --vault, else $BP_VAULT, else the default path.
func vaultPathOrEnv(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("BP_VAULT"); p != "" {
		return p, nil
	}
	return vault.DefaultPath(os.Getenv)
}

// openVaultForRun opens the vault read-only when its file exists; a
// machine with no vault runs blueprints that need none.
func (f *runFlags) openVaultForRun() (*vault.Vault, error) {
	path, err := vaultPathOrEnv(f.vaultPath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return vault.OpenEnv(path, os.Getenv, vault.Options{ReadOnly: true})
}

// loadSet loads the blueprints at a path; a path that cannot be read at
// all is a usage error.
func loadSet(path string, flags loadFlags) (*blueprints.Set, error) {
	lim, err := flags.limits()
	if err != nil {
		return nil, err
	}
	set, err := lim.Load(path)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	return set, nil
}

// selectBlueprint picks the blueprint to run: --blueprint, else the only
// one at the path.
func selectBlueprint(set *blueprints.Set, key string) (string, error) {
	if key != "" {
		if _, err := set.Get(key); err != nil {
			return "", withCode(exitUsage, err)
		}
		return key, nil
	}
	bp, err := set.Only()
	if err != nil {
		return "", withCode(exitUsage, fmt.Errorf("%w (choose one with --blueprint KEY)", err))
	}
	return bp.Key, nil
}

// exitCodeFor maps an error to bp's exit codes: vault problems 3,
// invalid blueprints 2, anything else 1.
func exitCodeFor(err error) int {
	var ve *engine.ValidationError
	switch {
	case err == nil:
		return exitOK
	case isVaultError(err):
		return exitVault
	case errors.As(err, &ve), errors.Is(err, blueprints.ErrNotFound), errors.Is(err, runner.ErrUnknownTrigger):
		return exitUsage
	}
	var fe *blueprints.FileError
	if errors.As(err, &fe) {
		return exitUsage
	}
	return exitRunFailed
}

func isVaultError(err error) bool {
	for _, target := range []error{engine.ErrSecretNotFound, engine.ErrNoVault, vault.ErrWrongKey, vault.ErrTampered, vault.ErrNotVault, vault.ErrLocked, vault.ErrNoKey, vault.ErrNotFound} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// runAndReport runs one blueprint the way every command that runs one
// shows it: the run log on stderr (pretty, or JSON lines with logFormat
// "json"), the return value as JSON on stdout, both through the run's
// scrubber, and the exit code of how it ended (exitCodeFor). banner, when
// set, is written to the log before the run.
func runAndReport(ctx context.Context, cmd *cobra.Command, r *runner.Runner, req runner.Request, logFormat, banner string) error {
	s := scrub.New()
	stderr := s.NewWriter(cmd.ErrOrStderr())
	defer stderr.Close()
	var sink engine.Sink = runner.NewConsole(stderr, useColor(cmd, cmd.ErrOrStderr()))
	if logFormat == "json" {
		sink = runner.NewJSONLog(stderr)
	}
	if banner != "" {
		fmt.Fprintln(stderr, banner)
	}
	req.Sinks = append(req.Sinks, sink)
	req.Scrubber = s
	res, err := r.Run(ctx, req)
	if err != nil {
		return withCode(exitCodeFor(err), err)
	}
	if res.HistoryErr != nil {
		fmt.Fprintln(stderr, "bp: warning:", res.HistoryErr)
	}
	// The return value as JSON on stdout: null for a run that
	// completed without one, so that `bp run ... | jq` always has input.
	if res.HasReturn || res.Status == engine.StatusCompleted {
		out := s.NewWriter(cmd.OutOrStdout())
		err := writeJSON(out, res.Return)
		out.Close()
		if err != nil {
			return withCode(exitRunFailed, fmt.Errorf("return value: %w", err))
		}
	}
	switch res.Status {
	case engine.StatusCompleted, engine.StatusReturned:
		return nil
	case engine.StatusCancelled:
		if ctx.Err() != nil {
			return withCode(exitInterrupted, silent{res.Err})
		}
	}
	// The log already showed why; the exit code says it failed, and
	// whether the vault was the cause.
	code := exitRunFailed
	if isVaultError(res.Err) {
		code = exitVault
	}
	return withCode(code, silent{res.Err})
}

// writeJSON prints a value as indented JSON, as bp shows values and
// records.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
