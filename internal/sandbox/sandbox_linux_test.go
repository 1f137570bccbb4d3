//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

func requireLandlock(t *testing.T) {
	t.Helper()
	if v, err := ll.LandlockGetABIVersion(); err != nil || v < 1 {
		t.Skip("this kernel has no Landlock")
	}
}

// system is what a shell needs to run.
var system = []string{"/bin", "/usr", "/lib", "/lib64", "/etc"}

// run runs the shell script in sb and returns its output and error.
func run(t *testing.T, sb *Sandbox, script string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	var cmd *exec.Cmd
	err := sb.Do(func() error {
		cmd = exec.Command("/bin/sh", "-c", script)
		cmd.Stdin = strings.NewReader("")
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	return out.String(), err
}

func TestConfinedProcessReadsOnlyWhatPolicyGrants(t *testing.T) {
	requireLandlock(t)
	dir := t.TempDir()
	granted := filepath.Join(dir, "blueprints")
	secret := filepath.Join(granted, "vault.db")
	elsewhere := filepath.Join(t.TempDir(), "key")
	work := t.TempDir()
	for path, content := range map[string]string{
		filepath.Join(granted, "data.txt"): "readable",
		secret:                             "SECRET-VAULT",
		elsewhere:                          "SECRET-KEY",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := New(Policy{
		Read:  append([]string{granted}, system...),
		Write: []string{work},
		Deny:  []string{secret, filepath.Join(granted, "history.db")},
	}, ModeRequire)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if !sb.Status().Confined() {
		t.Fatalf("not confined: %+v", sb.Status())
	}

	if out, err := run(t, sb, "cat "+filepath.Join(granted, "data.txt")); err != nil || out != "readable" {
		t.Errorf("granted file: %q, %v", out, err)
	}
	for _, path := range []string{secret, elsewhere} {
		out, err := run(t, sb, "cat "+path)
		if err == nil || strings.Contains(out, "SECRET") {
			t.Errorf("cat %s: %q, %v; want a refusal", path, out, err)
		}
	}
	// The denied file's tree is granted around it, so a file created there
	// later (the history, say) is out of reach too.
	history := filepath.Join(granted, "history.db")
	if err := os.WriteFile(history, []byte("SECRET-HISTORY"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, sb, "cat "+history); err == nil || strings.Contains(out, "SECRET") {
		t.Errorf("cat %s: %q, %v; want a refusal", history, out, err)
	}
	if out, err := run(t, sb, "echo hi > "+work+"/f && cat "+work+"/f"); err != nil || out != "hi\n" {
		t.Errorf("write in the granted tree: %q, %v", out, err)
	}
	if out, err := run(t, sb, "echo hi > "+granted+"/new"); err == nil {
		t.Errorf("write in a read-only tree: %q, want a refusal", out)
	}
}

func TestConfinedProcessCannotReachItsStarter(t *testing.T) {
	requireLandlock(t)
	// The variable is in this process's /proc/PID/environ, where Go's
	// Unsetenv would leave it.
	t.Setenv("BP_CANARY_SECRET", "env-canary-0b5e")
	sb, err := New(Policy{Read: append([]string{"/proc"}, system...)}, ModeRequire)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	pid := strconv.Itoa(os.Getpid())
	for _, script := range []string{
		"cat /proc/" + pid + "/environ",
		"head -c 64 /proc/" + pid + "/mem",
		"ls -l /proc/" + pid + "/fd",
		"kill -0 " + pid,
	} {
		out, err := run(t, sb, script)
		if err == nil || strings.Contains(out, "env-canary") {
			t.Errorf("%s: %q, %v; want a refusal", script, out, err)
		}
	}
	// What a confined process starts is in the same domain: it may look
	// at its own.
	if out, err := run(t, sb, "cat /proc/self/status"); err != nil || !strings.Contains(out, "CapEff:") {
		t.Fatalf("own status: %q, %v", out, err)
	}
}

func TestConfinedProcessHasNoCapabilities(t *testing.T) {
	requireLandlock(t)
	sb, err := New(Policy{Read: append([]string{"/proc"}, system...)}, ModeRequire)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	out, err := run(t, sb, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status")
	if err != nil {
		t.Fatal(out, err)
	}
	for _, want := range []string{"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if os.Getuid() == 0 && !strings.Contains(out, "CapBnd:\t0000000000000000") {
		t.Errorf("root's child keeps a bounding set:\n%s", out)
	}
	// The caller's own thread is untouched.
	b, _ := os.ReadFile("/proc/thread-self/status")
	if bytes.Contains(b, []byte("NoNewPrivs:\t1")) {
		t.Error("the caller's thread got no_new_privs")
	}
}

func TestModeOffAndClosed(t *testing.T) {
	sb, err := New(Policy{}, ModeOff)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Status().Confined() || sb.Status().Reason == "" {
		t.Errorf("off: %+v", sb.Status())
	}
	sb.Close()
	if err := sb.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
}
