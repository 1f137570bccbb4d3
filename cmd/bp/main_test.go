package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bpBinary is the real bp binary, built once for the package's end-to-end
// tests. Every test of a subcommand runs it as a user would.
var bpBinary string

func TestMain(m *testing.M) {
	runNATSNodeIfAsked() // the test binary re-executed as a NATS node
	dir, err := os.MkdirTemp("", "bp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bpBinary = filepath.Join(dir, "bp")
	args := []string{"build", "-o", bpBinary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bpResult is what one bp command printed and how it exited.
type bpResult struct {
	stdout, stderr string
	code           int
	args           []string
}

func (r bpResult) String() string {
	return fmt.Sprintf("bp %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// bpEnv is an isolated home for bp: its own data and config directories,
// so tests never touch the user's vault or history.
type bpEnv struct {
	t    *testing.T
	home string
	vars []string
}

func newBPEnv(t *testing.T) *bpEnv {
	t.Helper()
	home := t.TempDir()
	return &bpEnv{t: t, home: home, vars: []string{
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"PATH=" + os.Getenv("PATH"),
		// A -race binary otherwise sleeps a second at every exit.
		"GORACE=atexit_sleep_ms=0",
	}}
}

// with returns a copy of the environment with more variables set.
func (e *bpEnv) with(vars ...string) *bpEnv {
	c := *e
	c.vars = append(append([]string(nil), e.vars...), vars...)
	return &c
}

// run runs bp with args, stdin as its standard input.
func (e *bpEnv) run(stdin string, args ...string) bpResult {
	e.t.Helper()
	cmd := exec.Command(bpBinary, args...)
	cmd.Env = e.vars
	cmd.Dir = e.home
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("running bp: %v", err)
		}
		code = ee.ExitCode()
	}
	return bpResult{stdout: out.String(), stderr: errb.String(), code: code, args: args}
}

// write creates a file in the test's home and returns its path.
func (e *bpEnv) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.home, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// corpus is the folder of real Writer blueprint files beside the repo.
func corpus(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("../../../shared/writer-corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("writer corpus not found at %s", dir)
	}
	return dir
}
