//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptCancelsCleanly sends Ctrl-C (SIGINT) to bp run while a
// Python block and its own child sleep: bp exits 130, kills them, and keeps
// the partial log and the run's record.
func TestInterruptCancelsCleanly(t *testing.T) {
	scratch := t.TempDir()
	env := newBPEnv(t).with("BP_PYTHON_ALLOW_WRITE=" + scratch)
	pidFile := filepath.Join(scratch, "grandchild.pid")
	path := env.write("slow.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: [quick, slow]}}
  quick: {type: logmessage, fields: {message: "before the interrupt"}}
  slow:
    type: code
    fields:
      code: |
        import subprocess, time
        p = subprocess.Popen(["sleep", "300"])
        open(`+strconv.Quote(pidFile)+`, "w").write(str(p.pid))
        print("sleeping", flush=True)
        time.sleep(300)
`)
	cmd := exec.Command(bpBinary, "run", path)
	cmd.Env = env.vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var grandchild int
	for grandchild == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			grandchild, _ = strconv.Atoi(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if grandchild == 0 {
		cmd.Process.Kill()
		t.Fatalf("the block never started:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("bp did not stop after SIGINT:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, stderr.String())
	}
	for _, want := range []string{"before the interrupt", "cancelled"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	// The block's own child is gone with it.
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		gone = syscall.Kill(grandchild, 0) != nil
		if !gone {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !gone {
		syscall.Kill(grandchild, syscall.SIGKILL)
		t.Errorf("the block's child %d outlived the interrupt", grandchild)
	}
	r := env.run("", "runs", "list")
	if !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("history lacks the cancelled run:\n%v", r)
	}
}
