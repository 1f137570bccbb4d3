//go:build unix

package pyrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// interpreter is what resolve learns of a Python command, once.
type interpreter struct {
	path    string // sys.executable
	version string // "3.11"
	// site is what the `site` module sets up in this interpreter (sys.path
	// and prefixes), as JSON for the harness, which runs under -S: the
	// blocks see the same sys.path, but no .pth file's code runs in the
	// fork server (it would weigh on every fork).
	site json.RawMessage
	// pthCode are the .pth files in its site directories that run code
	// (an "import" line), which -S skips.
	pthCode []string
	// roots are the trees it reads: its prefixes and sys.path.
	roots []string
	// ctypes says whether it has the ctypes module, which the harness
	// needs to confine each block.
	ctypes bool
	// harness is harness.py compiled by this interpreter (marshal): a
	// process runs it without compiling it, which costs twice the
	// interpreter's own start. Empty when it could not be compiled so.
	harness []byte
}

// probe is what Python says of itself: run once per interpreter and
// environment, and kept (resolved, and the cache directory).
const probe = `import json, os, site, sys
pth = []
dirs = site.getsitepackages()
for d in dirs:
    try:
        names = sorted(os.listdir(d))
    except OSError:
        continue
    for n in names:
        if not n.endswith(".pth"):
            continue
        try:
            with open(os.path.join(d, n), encoding="utf-8", errors="replace") as f:
                if any(l.startswith(("import ", "import\t")) for l in f):
                    pth.append(n)
        except OSError:
            pass
try:
    import _ctypes
    has_ctypes = True
except ImportError:
    has_ctypes = False
import base64, marshal
harness = ""
try:
    harness = base64.b64encode(marshal.dumps(compile(sys.stdin.read(), "<bp harness>", "exec"))).decode()
except Exception:
    pass
sys.stdout.write(json.dumps({
    "executable": sys.executable or "",
    "version": "%d.%d" % sys.version_info[:2],
    "site": {"path": [p for p in sys.path if p], "prefix": sys.prefix, "exec_prefix": sys.exec_prefix},
    "roots": [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix],
    "site_dirs": dirs,
    "pth_code": pth,
    "ctypes": has_ctypes,
    "harness": harness,
}))`

// probeAnswer is probe's output, and what the cache keeps of it.
type probeAnswer struct {
	Executable string          `json:"executable"`
	Version    string          `json:"version"`
	Site       json.RawMessage `json:"site"`
	Roots      []string        `json:"roots"`
	SiteDirs   []string        `json:"site_dirs"`
	PthCode    []string        `json:"pth_code"`
	Ctypes     bool            `json:"ctypes"`
	Harness    []byte          `json:"harness"` // base64 in JSON
}

func (a *probeAnswer) interpreter(lp string) (interpreter, error) {
	var major, minor int
	if _, err := fmt.Sscanf(a.Version, "%d.%d", &major, &minor); err != nil || major < 3 || (major == 3 && minor < 8) {
		return interpreter{}, fmt.Errorf("pyrun: %s is Python %s; 3.8 or later is needed", lp, a.Version)
	}
	var site struct {
		Path []string `json:"path"`
	}
	_ = json.Unmarshal(a.Site, &site)
	in := interpreter{
		path: a.Executable, version: a.Version, site: a.Site, pthCode: a.PthCode,
		roots: append(append([]string(nil), a.Roots...), site.Path...), ctypes: a.Ctypes,
		harness: a.Harness,
	}
	if in.path == "" {
		in.path = lp
	}
	return in, nil
}

// resolved caches interpreter resolution in this process, by command and
// environment.
var resolved sync.Map // string -> interpreter

// resolve finds the interpreter that python names (a command looked up in
// PATH, or a path) and asks it about itself, unless this process already
// has (resolved), or cacheDir holds an answer that is still true (see
// cacheEntry). cacheDir "" keeps nothing on disk.
func resolve(python string, env []string, cacheDir string) (interpreter, error) {
	if python == "" {
		python = "python3"
	}
	lp, err := exec.LookPath(python)
	if err != nil {
		return interpreter{}, fmt.Errorf("pyrun: python interpreter %q not found: %w", python, err)
	}
	key := lp + "\x00" + strings.Join(env, "\x00")
	if v, ok := resolved.Load(key); ok {
		return v.(interpreter), nil
	}
	ck := newCacheKey(lp, env)
	if a, ok := ck.load(cacheDir); ok {
		if in, err := a.interpreter(lp); err == nil {
			resolved.Store(key, in)
			return in, nil
		}
	}
	a, err := runProbe(lp, env)
	if err != nil {
		return interpreter{}, err
	}
	in, err := a.interpreter(lp)
	if err != nil {
		return interpreter{}, err
	}
	ck.store(cacheDir, a, env) // best effort: the next run probes again
	resolved.Store(key, in)
	return in, nil
}

func envValue(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func runProbe(lp string, env []string) (*probeAnswer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lp, "-I", "-c", probe)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(harnessSource)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pyrun: running %s: %w: %s", lp, err, strings.TrimSpace(stderr.String()))
	}
	var a probeAnswer
	if err := json.Unmarshal(out, &a); err != nil || len(a.Site) == 0 {
		return nil, fmt.Errorf("pyrun: unexpected answer from %s: %q", lp, out)
	}
	// Compact, as the cache keeps it: the same bytes either way.
	var site bytes.Buffer
	if err := json.Compact(&site, a.Site); err == nil {
		a.Site = site.Bytes()
	}
	return &a, nil
}

// cacheEntry is a probe's answer kept on disk, with what it depended on.
// It is used while every file it names is as it was: the command (a
// pyenv or asdf shim, or a link), the interpreter, a virtualenv's
// pyvenv.cfg, the site directories (a .pth added or removed changes
// sys.path), and, behind a shim, the version files the shim reads (from
// the working directory up, and the global one). The environment variables
// that choose an interpreter are part of its key.
type cacheEntry struct {
	Format int         `json:"format"`
	Key    string      `json:"key"`
	Answer probeAnswer `json:"answer"`
	Files  []fileStamp `json:"files"`
}

// cacheFormat changes when cacheEntry or probe does.
const cacheFormat = 3

// harnessSum tells one harness from another in the cache's keys: an answer
// holds the harness compiled.
var harnessSum = sha256.Sum256([]byte(harnessSource))

// fileStamp is what a file was when an answer was probed.
type fileStamp struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	Size   int64  `json:"size,omitempty"`
	Mtime  int64  `json:"mtime,omitempty"` // ns
	Ino    uint64 `json:"ino,omitempty"`
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{Path: path}
	}
	st := fileStamp{Path: path, Exists: true, Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = uint64(sys.Ino) //nolint:unconvert // Ino's type differs between systems
	}
	return st
}

// envChoosing are the variables that change which interpreter a command
// runs, or its sys.path.
var envChoosing = []string{"PATH", "HOME", "PYENV_VERSION", "PYENV_ROOT", "PYENV_DIR", "ASDF_DATA_DIR", "ASDF_PYTHON_VERSION", "VIRTUAL_ENV", "CONDA_PREFIX"}

// cacheKey names a probe's answer: the command and what chooses it.
type cacheKey struct {
	lp   string
	text string
	shim bool   // lp is a version manager's shim: it reads version files
	cwd  string // where a shim looks for them
}

func newCacheKey(lp string, env []string) cacheKey {
	k := cacheKey{lp: lp, shim: strings.Contains(filepath.ToSlash(lp), "/shims/")}
	var b strings.Builder
	fmt.Fprintf(&b, "%d\x00%s\x00%x", cacheFormat, lp, harnessSum)
	for _, name := range envChoosing {
		v, _ := envValue(env, name)
		fmt.Fprintf(&b, "\x00%s=%s", name, v)
	}
	if k.shim {
		k.cwd, _ = os.Getwd()
		fmt.Fprintf(&b, "\x00cwd=%s", k.cwd)
	}
	k.text = b.String()
	return k
}

func (k cacheKey) file(dir string) string {
	sum := sha256.Sum256([]byte(k.text))
	return filepath.Join(dir, "python-"+hex.EncodeToString(sum[:12])+".json")
}

// watched are the files an answer depends on (see cacheEntry).
func (k cacheKey) watched(a *probeAnswer, env []string) []string {
	files := []string{k.lp, a.Executable}
	for _, r := range a.Roots {
		files = append(files, filepath.Join(r, "pyvenv.cfg"))
	}
	files = append(files, a.SiteDirs...)
	if k.shim {
		for dir := k.cwd; dir != ""; {
			files = append(files, filepath.Join(dir, ".python-version"), filepath.Join(dir, ".tool-versions"))
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
		root, _ := envValue(env, "PYENV_ROOT")
		if root == "" {
			if home, ok := envValue(env, "HOME"); ok {
				root = filepath.Join(home, ".pyenv")
			}
		}
		if root != "" {
			files = append(files, filepath.Join(root, "version"))
		}
	}
	return files
}

// load returns the answer kept for k, if it is still true.
func (k cacheKey) load(dir string) (*probeAnswer, bool) {
	if dir == "" {
		return nil, false
	}
	b, err := os.ReadFile(k.file(dir))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Format != cacheFormat || e.Key != k.text || len(e.Answer.Site) == 0 || len(e.Files) == 0 {
		return nil, false
	}
	for _, f := range e.Files {
		if stamp(f.Path) != f {
			return nil, false // stale: the interpreter, its site or its version changed
		}
	}
	return &e.Answer, true
}

// store keeps a's answer for k in dir (0700; the file 0600, written whole
// or not at all).
func (k cacheKey) store(dir string, a *probeAnswer, env []string) {
	if dir == "" {
		return
	}
	e := cacheEntry{Format: cacheFormat, Key: k.text, Answer: *a}
	for _, f := range k.watched(a, env) {
		e.Files = append(e.Files, stamp(f))
	}
	b, err := json.Marshal(&e)
	if err != nil || os.MkdirAll(dir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".python-*.tmp")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		return
	}
	_ = os.Rename(tmp.Name(), k.file(dir))
}
