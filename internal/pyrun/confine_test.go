//go:build unix

package pyrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/internal/sandbox"
)

// escapes starts, in a block, a process that leaves the block's process
// group in each way a daemon does, and writes their pids to pidFile.
func escapes(pidFile string) string {
	return fmt.Sprintf(`
import os, subprocess, time
pids = []
# A child in a session of its own (setsid through Popen).
pids.append(subprocess.Popen(["sleep", "300"], start_new_session=True).pid)
# A grandchild whose parent called setsid() and then exited.
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        os.close(r); os.close(w)
        os.execvp("sleep", ["sleep", "300"])
    os.write(w, str(pid).encode()); os._exit(0)
os.close(w)
pids.append(int(os.read(r, 32)))
os.close(r)
# A classic double-forked daemon, reparented before the block ends.
r, w = os.pipe()
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            os.closerange(0, 3)
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    os._exit(0)
os.close(w)
pids.append(int(os.read(r, 32)))
open(%q, "w").write(" ".join(map(str, pids)))
`, pidFile)
}

func readPids(t *testing.T, pidFile string) []int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("pids %q", b)
	}
	return pids
}

// TestNothingOutlivesItsBlock: what a block starts is gone when the block
// ends, however it detached, whether the block ended by itself or on its
// timeout.
func TestNothingOutlivesItsBlock(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		pidFile := filepath.Join(t.TempDir(), "pids")
		resp, rec := mustRun(t, r, &Request{Code: escapes(pidFile)})
		if resp.Error != nil {
			t.Fatal(resp.Error, rec.text())
		}
		for _, pid := range readPids(t, pidFile) {
			waitGone(t, pid)
		}

		// A block that ends abruptly, skipping the harness's own cleanup.
		pidFile = filepath.Join(t.TempDir(), "pids")
		_, rec, err := run(t, r, &Request{Code: escapes(pidFile) + "\nos._exit(0)"})
		var ee *ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v, output %s", err, rec.text())
		}
		for _, pid := range readPids(t, pidFile) {
			waitGone(t, pid)
		}

		pidFile = filepath.Join(t.TempDir(), "pids")
		_, rec, err = run(t, r, &Request{Code: escapes(pidFile) + "\ntime.sleep(300)", Timeout: 3 * time.Second})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, output %s", err, rec.text())
		}
		for _, pid := range readPids(t, pidFile) {
			waitGone(t, pid)
		}
	})
}

// TestNothingOutlivesItsBlockInARunsProcess: under IsolateRun the process
// outlives the block, to run the run's next one; what the block started
// does not.
func TestNothingOutlivesItsBlockInARunsProcess(t *testing.T) {
	r, err := New(inTemp(Options{Isolation: IsolateRun}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Daemons that let go of the block's pipes: Go sees the block end
	// cleanly and keeps its process.
	pidFile := filepath.Join(t.TempDir(), "pids")
	resp, _ := mustRun(t, r, &Request{Session: "run/bp", Code: fmt.Sprintf(`
import os, subprocess
pids = [subprocess.Popen(["sleep", "300"], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid for _ in range(3)]
open(%q, "w").write(" ".join(map(str, pids)))
set_output(os.getpid())`, pidFile)})
	for _, pid := range readPids(t, pidFile) {
		waitGone(t, pid)
	}
	// The process itself stayed for the next block.
	next, _ := mustRun(t, r, &Request{Code: "import os\nset_output(os.getpid())", Session: "run/bp"})
	if next.Value != resp.Value {
		t.Fatalf("the run's process was not kept: %v, then %v", resp.Value, next.Value)
	}
}

// TestMemoryLimit: a block that allocates past its limit fails with an
// error that names the limit; the next block runs.
func TestMemoryLimit(t *testing.T) {
	for _, m := range []Mode{ModeForkServer, ModeFresh} {
		t.Run(m.String(), func(t *testing.T) {
			r, err := New(inTemp(Options{Mode: m, Memory: 256 << 20}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			resp, rec, err := run(t, r, &Request{Code: "x = bytearray(300 << 20)\nset_output(len(x))"})
			if err != nil {
				t.Fatalf("err = %v, output %s", err, rec.text())
			}
			if resp.Error == nil || resp.Error.Type != "MemoryError" || !strings.Contains(resp.Error.Error(), "256 MiB") {
				t.Fatalf("error %v", resp.Error)
			}
			// Within the limit, and the next block, run.
			resp, _ = mustRun(t, r, &Request{Code: "x = bytearray(64 << 20)\nset_output(len(x))"})
			if resp.Value != int64(64<<20) {
				t.Fatalf("value %v", resp.Value)
			}
		})
	}
	// Without a bound the same allocation succeeds.
	r, err := New(inTemp(Options{Memory: -1}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, _ := mustRun(t, r, &Request{Code: "x = bytearray(300 << 20)\nset_output(len(x))"})
	if resp.Value != int64(300<<20) {
		t.Fatalf("value %v", resp.Value)
	}
}

// TestOpenFilesLimit: a block cannot hold more files open than its limit.
func TestOpenFilesLimit(t *testing.T) {
	r, err := New(inTemp(Options{OpenFiles: 64}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, _ := mustRun(t, r, &Request{Code: `
import resource
set_output(resource.getrlimit(resource.RLIMIT_NOFILE))`})
	if fmt.Sprint(resp.Value) != "[64 64]" {
		t.Fatalf("RLIMIT_NOFILE %v", resp.Value)
	}
}

// TestBlocksCannotReachEachOther: a block can neither read another block's
// memory or descriptors (where its request, vault included, arrives) nor
// signal it or the fork server.
func TestBlocksCannotReachEachOther(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		if !r.Sandbox().Confined() {
			t.Skip("no sandbox here:", r.Sandbox().Reason)
		}
		pidFile := filepath.Join(t.TempDir(), "victim")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		victim := make(chan error, 1)
		go func() {
			_, err := r.Run(ctx, &Request{
				Code:  fmt.Sprintf("import os, time\nopen(%q, 'w').write(str(os.getpid()))\ntime.sleep(60)", pidFile),
				Vault: map[string]string{"K": "victim-secret-77aa"},
			}, nil)
			victim <- err
		}()
		var pid int
		for deadline := time.Now().Add(prompt); pid == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(pidFile)
			pid, _ = strconv.Atoi(string(b))
		}
		if pid == 0 {
			t.Fatal("the victim block did not start")
		}
		resp, rec := mustRun(t, r, &Request{Code: fmt.Sprintf(`
import os, signal
pid = %d
got = {}
for what, path in (("mem", "/proc/%%d/mem" %% pid), ("environ", "/proc/%%d/environ" %% pid),
                   ("request", "/proc/%%d/fd/0" %% pid), ("server", "/proc/%%d/mem" %% os.getppid())):
    try:
        with open(path, "rb") as f:
            got[what] = "read %%d bytes" %% len(f.read(4096))
    except OSError as e:
        got[what] = type(e).__name__
for what, target in (("signal", pid), ("signal server", os.getppid())):
    try:
        os.kill(target, 0)
        got[what] = "sent"
    except OSError as e:
        got[what] = type(e).__name__
set_output(got)`, pid)})
		got := resp.Value.(map[string]any)
		for what, v := range got {
			if what == "signal server" && r.Mode() == ModeFresh {
				continue // a fresh block's parent is bp: the Go test here
			}
			if what == "server" && r.Mode() == ModeFresh {
				continue
			}
			if v != "PermissionError" {
				t.Errorf("%s: %v (want PermissionError)\n%s", what, v, rec.text())
			}
		}
		cancel()
		<-victim
	})
}

// TestSandboxRequire: a runner that must confine its blocks and cannot
// refuses to start; one that can says so.
func TestSandboxRequire(t *testing.T) {
	r, err := New(inTemp(Options{Sandbox: sandbox.ModeRequire}))
	if errors.Is(err, sandbox.ErrUnavailable) {
		t.Skip("no sandbox here:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st := r.Sandbox(); !st.Confined() || st.Reason != "" {
		t.Fatalf("status %+v", st)
	}
	off, err := New(Options{Sandbox: sandbox.ModeOff})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if st := off.Sandbox(); st.Confined() || st.Reason == "" {
		t.Fatalf("off: %+v", st)
	}
}
