package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Verdict is what the tests did with a planted fault.
type Verdict string

const (
	Caught   Verdict = "caught"   // a test failed
	Survived Verdict = "SURVIVED" // every test passed: the guard has no test
	Stale    Verdict = "STALE"    // the fault no longer applies to the code
	Broken   Verdict = "BROKEN"   // the fault does not build: it proves nothing
)

// Outcome is one fault's verdict, the tests that failed, and the output of
// go test when the verdict needs reading.
type Outcome struct {
	Fault   Fault
	Verdict Verdict
	Failed  []string
	Detail  string
}

// auditor plants faults in a private copy of a module, never in the
// module itself, so that an interrupted audit leaves the sources as they
// were.
type auditor struct {
	dir     string // the copy
	goTest  []string
	timeout time.Duration
}

// newAuditor copies the module at root (without .git) into a temporary
// directory; call close to remove it.
func newAuditor(root string, timeout time.Duration) (*auditor, error) {
	dir, err := os.MkdirTemp("", "faultaudit-")
	if err != nil {
		return nil, err
	}
	a := &auditor{dir: dir, goTest: []string{"go", "test", "-count=1"}, timeout: timeout}
	if err := copyTree(root, dir); err != nil {
		a.close()
		return nil, fmt.Errorf("copying %s: %w", root, err)
	}
	return a, nil
}

func (a *auditor) close() { os.RemoveAll(a.dir) }

// baseline runs the tests of every fault without any: they must pass, or
// a failure under a fault would prove nothing.
func (a *auditor) baseline(ctx context.Context, faults []Fault) error {
	seen := map[string]bool{}
	var pkgs []string
	for _, f := range faults {
		for _, p := range f.Packages {
			if !seen[p] {
				seen[p] = true
				pkgs = append(pkgs, p)
			}
		}
	}
	out, err := a.test(ctx, pkgs, "")
	if err != nil {
		return fmt.Errorf("the tests fail without any fault planted:\n%s", out)
	}
	return nil
}

// plant applies one fault, runs its tests and restores the file.
func (a *auditor) plant(ctx context.Context, f Fault) Outcome {
	path := filepath.Join(a.dir, filepath.FromSlash(f.File))
	orig, err := os.ReadFile(path)
	if err != nil {
		return Outcome{Fault: f, Verdict: Stale, Detail: err.Error()}
	}
	faulty, err := f.apply(orig)
	if err != nil {
		return Outcome{Fault: f, Verdict: Stale, Detail: err.Error()}
	}
	if err := os.WriteFile(path, faulty, 0o644); err != nil {
		return Outcome{Fault: f, Verdict: Stale, Detail: err.Error()}
	}
	defer os.WriteFile(path, orig, 0o644)

	out, err := a.test(ctx, f.Packages, f.Run)
	switch {
	case err == nil:
		return Outcome{Fault: f, Verdict: Survived}
	case ctx.Err() != nil:
		return Outcome{Fault: f, Verdict: Broken, Detail: "interrupted"}
	case buildFailed.MatchString(out):
		return Outcome{Fault: f, Verdict: Broken, Detail: out}
	}
	failed := failedTests(out)
	if len(failed) == 0 {
		// A failure with no test named (a timeout, a panic in TestMain):
		// caught, but worth a look.
		return Outcome{Fault: f, Verdict: Caught, Detail: out}
	}
	return Outcome{Fault: f, Verdict: Caught, Failed: failed}
}

var (
	buildFailed = regexp.MustCompile(`(?m)\[(build|setup) failed\]$`)
	failLine    = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
)

// failedTests names the failed tests in go test's output, subtests
// folded into their test.
func failedTests(out string) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range failLine.FindAllStringSubmatch(out, -1) {
		name, _, _ := strings.Cut(m[1], "/")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

func (a *auditor) test(ctx context.Context, pkgs []string, run string) (string, error) {
	args := append([]string(nil), a.goTest[1:]...)
	args = append(args, "-timeout", a.timeout.String())
	if run != "" {
		args = append(args, "-run", run)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, a.goTest[0], args...)
	cmd.Dir = a.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// copyTree copies the regular files under src to dst, without .git.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Close())
}
