//go:build unix

package pyrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// venv is a test virtualenv: its python, directory, site-packages and the
// directory its paths.pth names.
type venvInfo struct{ python, dir, site, extra string }

// virtualenv makes a virtualenv (without pip) whose site-packages holds a
// module, a .pth file naming another directory and a .pth file that runs
// code.
func virtualenv(t *testing.T) venvInfo {
	t.Helper()
	base := runner(t, ModeForkServer).Python()
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv")
	if out, err := exec.Command(base, "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	sites, _ := filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages"))
	if len(sites) != 1 {
		t.Fatalf("site-packages: %v", sites)
	}
	extra := filepath.Join(dir, "extra")
	files := map[string]string{
		filepath.Join(sites[0], "venvmod.py"): "WHERE = 'venv'\n",
		filepath.Join(sites[0], "paths.pth"):  extra + "\n",
		filepath.Join(sites[0], "hook.pth"):   "import sys; sys.bp_pth_ran = True\n",
		filepath.Join(extra, "extramod.py"):   "WHERE = 'extra'\n",
	}
	if err := os.MkdirAll(extra, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return venvInfo{python: filepath.Join(venv, "bin", "python"), dir: venv, site: sites[0], extra: extra}
}

// probeSite is what python itself says its sys.path and prefix are, run
// directly as a user would.
func probeSite(t *testing.T, python string) (path []string, prefix string) {
	t.Helper()
	out, err := exec.Command(python, "-I", "-c",
		"import json, sys; print(json.dumps([[p for p in sys.path if p], sys.prefix]))").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v [2]json.RawMessage
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(v[0], &path); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(v[1], &prefix); err != nil {
		t.Fatal(err)
	}
	return path, prefix
}

// A block sees the virtualenv as python run directly does (sys.path with
// .pth paths, prefix), whether or not .pth code runs.
func TestSiteOfAVirtualenv(t *testing.T) {
	env := virtualenv(t)
	python := env.python
	wantPath, wantPrefix := probeSite(t, python)
	// What site does for a virtualenv, checked apart from the probe.
	if wantPrefix != env.dir || !slices.Contains(wantPath, env.site) || !slices.Contains(wantPath, env.extra) {
		t.Fatalf("python -I itself: prefix %s, sys.path %q", wantPrefix, wantPath)
	}
	const code = `
import sys, venvmod, extramod
set_output({"path": [p for p in sys.path if p], "prefix": sys.prefix,
            "mods": [venvmod.WHERE, extramod.WHERE],
            "pth_code_ran": getattr(sys, "bp_pth_ran", False)})`
	for _, site := range []bool{false, true} {
		for _, m := range []Mode{ModeForkServer, ModeFresh} {
			r, err := New(inTemp(Options{Python: python, Mode: m, Site: site}))
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := mustRun(t, r, &Request{Code: code})
			r.Close()
			got := resp.Value.(map[string]any)
			var path []string
			for _, p := range got["path"].([]any) {
				path = append(path, p.(string))
			}
			if !reflect.DeepEqual(path, wantPath) {
				t.Errorf("site=%v %v: sys.path\n%q\nwant (python -I)\n%q", site, m, path, wantPath)
			}
			if got["prefix"] != wantPrefix {
				t.Errorf("site=%v %v: prefix %v, want %v", site, m, got["prefix"], wantPrefix)
			}
			if !reflect.DeepEqual(got["mods"], []any{"venv", "extra"}) {
				t.Errorf("site=%v %v: modules %v", site, m, got["mods"])
			}
			if got["pth_code_ran"] != site {
				t.Errorf("site=%v %v: .pth code ran: %v", site, m, got["pth_code_ran"])
			}
		}
	}
}

// What site gives a script is there without it: exit, quit, help.
func TestSiteBuiltins(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		resp, _ := mustRun(t, r, &Request{Code: `
assert all(callable(f) for f in (exit, quit, help, copyright, credits, license))
set_output(1)
exit()`})
		if resp.Value != int64(1) {
			t.Fatalf("value %v", resp.Value)
		}
		resp, err := r.Run(context.Background(), &Request{Code: "exit(3)"}, nil)
		if err != nil || resp.Error == nil || resp.Error.Type != "SystemExit" {
			t.Fatalf("exit(3): %+v, %v", resp, err)
		}
	})
}

// The fork server's image holds what every block needs, not what a few do:
// each module in it is paid for by every fork.
func TestForkImageStaysSmall(t *testing.T) {
	r := runner(t, ModeForkServer)
	resp, _ := mustRun(t, r, &Request{Code: `
import sys
set_output(sorted(m for m in ("logging", "traceback", "threading", "socket", "signal", "site") if m in sys.modules))`})
	if v, ok := resp.Value.([]any); !ok || len(v) != 0 {
		t.Fatalf("modules in every block's image: %v", resp.Value)
	}
}

// logger is imported for the blocks that name it, and reached lazily by
// the others.
func TestLoggerImportedOnUse(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec := mustRun(t, r, &Request{Code: `
log = eval("log" + "ger")
log.warning("through %s", "eval")
log.setLevel(10)
log.debug("now at debug")
import logging
assert logging.getLogger("bp").level == 10`})
		out := rec.text()
		for _, want := range []string{"WARNING: through eval\n", "DEBUG: now at debug\n"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output %q lacks %q", out, want)
			}
		}
	})
}

// The "bp" logger is set up for a block whoever imports logging first:
// a module the block uses, say.
func TestBPLoggerSetUpForAnyImporter(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec := mustRun(t, r, &Request{Code: `
import logging
logging.getLogger("bp").info("from a helper")
logging.getLogger("bp").warning("warned")
import inspect
assert "def getLogger" in inspect.getsource(logging)`})
		out := rec.text()
		for _, want := range []string{"INFO: from a helper\n", "WARNING: warned\n"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output %q lacks %q", out, want)
			}
		}
	})
}

// A failed import in an interpreter whose .pth files run code (skipped
// under -S) says how to run them.
func TestImportErrorHintsAtPythonSite(t *testing.T) {
	env := virtualenv(t) // its hook.pth runs code
	for _, site := range []bool{false, true} {
		r, err := New(inTemp(Options{Python: env.python, Site: site}))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.Run(context.Background(), &Request{Code: "import only_through_a_hook"}, nil)
		r.Close()
		if err != nil || resp.Error == nil {
			t.Fatalf("site=%v: %+v, %v", site, resp, err)
		}
		msg := resp.Error.Error()
		if hinted := strings.Contains(msg, "--python-site") && strings.Contains(msg, "hook.pth"); hinted == site {
			t.Errorf("site=%v: hint shown %v:\n%s", site, hinted, msg)
		}
	}
	resp, _ := runner(t, ModeForkServer).Run(context.Background(), &Request{Code: "1/0"}, nil)
	if resp == nil || resp.Error == nil || resp.Error.Hint != "" {
		t.Errorf("a ZeroDivisionError got a hint: %+v", resp)
	}
}

// Preloaded modules are in every block's image; one that fails to import
// fails every block with ErrPreload, at once, rather than falling back to
// fresh processes.
func TestPreload(t *testing.T) {
	r, err := New(inTemp(Options{Preload: []string{"decimal", "xml.dom.minidom"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, _ := mustRun(t, r, &Request{Code: `
import sys
set_output(["decimal" in sys.modules, "xml.dom.minidom" in sys.modules])`})
	if !reflect.DeepEqual(resp.Value, []any{true, true}) {
		t.Fatalf("preloaded: %v", resp.Value)
	}

	r2, err := New(inTemp(Options{Preload: []string{"json", "no_such_module_bp"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for i := 0; i < 2; i++ {
		_, err := r2.Run(context.Background(), &Request{Code: "set_output(1)"}, nil)
		if !errors.Is(err, ErrPreload) || !strings.Contains(err.Error(), "no_such_module_bp") || !strings.Contains(err.Error(), "ModuleNotFoundError") {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if _, err := New(Options{Preload: []string{"not-a-module"}}); err == nil {
		t.Fatal("a bad module name was accepted")
	}
}

// Looking for logging without importing it leaves the bp logger to be set
// up by the import that follows.
func TestBPLoggerAfterFindSpec(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		_, rec := mustRun(t, r, &Request{Code: `
import importlib.util
assert importlib.util.find_spec("logging") is not None
import logging
logging.getLogger("bp").info("after find_spec")`})
		if out := rec.text(); !strings.Contains(out, "INFO: after find_spec\n") {
			t.Fatalf("output %q", out)
		}
	})
}

// A file a preloaded module opened stays its own: the block's files get
// other descriptors.
func TestPreloadedModuleKeepsItsFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fdmod.py"), []byte("import os\nf = open(os.path.join(os.path.dirname(__file__), 'mod.log'), 'a', buffering=1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A virtualenv whose .pth puts fdmod on the path.
	env := virtualenv(t)
	if err := os.WriteFile(filepath.Join(env.site, "fdmod.pth"), []byte(dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(inTemp(Options{Python: env.python, Preload: []string{"fdmod"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	block := filepath.Join(dir, "block.txt")
	mustRun(t, r, &Request{Code: fmt.Sprintf(`
import fdmod
with open(%q, "w") as b:
    fdmod.f.write("module line\n")
    fdmod.f.flush()
    b.write("block line\n")`, block)})
	got, _ := os.ReadFile(block)
	log, _ := os.ReadFile(filepath.Join(dir, "mod.log"))
	if string(got) != "block line\n" || string(log) != "module line\n" {
		t.Fatalf("block.txt %q, mod.log %q", got, log)
	}
}
