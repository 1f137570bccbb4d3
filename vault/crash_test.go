package vault

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The crash tests re-execute this test binary as a child that changes the
// vault, SIGKILL it at a random moment, and check what it left behind.
const childEnv = "BP_VAULT_TEST_CHILD"

// runChild is the child's body; it returns at once in the parent.
func runChild() {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	path, keyFile := os.Getenv("T_VAULT"), os.Getenv("T_KEYFILE")
	key, err := ReadKeyFile(keyFile)
	if err != nil {
		fail(err)
	}
	v, err := Open(path, key, Options{})
	if err != nil {
		fail(err)
	}
	os.Stdout.WriteString("ready\n") // the parent's clock for the kill starts here
	switch mode {
	case "import":
		err = v.Import(map[string][]byte{"A": []byte("new-A"), "B": []byte("new-B"), "C": []byte("new-C")})
		if err == nil {
			err = v.Set("D", []byte("new-D"))
		}
	case "rotate":
		var nk MasterKey
		if nk, err = ReadKeyFile(os.Getenv("T_NEWKEY")); err == nil {
			err = v.RotateKey(nk, RotateOptions{KeyFile: keyFile, Reencrypt: os.Getenv("T_REENCRYPT") != ""})
		}
	}
	if err == nil {
		err = v.Close()
	}
	if err != nil {
		fail(err)
	}
	os.Exit(0)
}

type crashSetup struct {
	dir, path, keyFile, newKeyFile string
	oldKey, newKey                 MasterKey
}

func newCrashSetup(t *testing.T) crashSetup {
	dir := tempDir(t)
	s := crashSetup{dir: dir, path: filepath.Join(dir, "vault.db"), keyFile: filepath.Join(dir, "vault.key"),
		newKeyFile: filepath.Join(dir, "new.key"), oldKey: GenerateMasterKey(), newKey: GenerateMasterKey()}
	v, err := Create(s.path, s.oldKey, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Import(map[string][]byte{"A": []byte("old-A"), "B": []byte("old-B"), "C": []byte("old-C"), "D": []byte("old-D")}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := WriteKeyFile(s.keyFile, s.oldKey); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(s.newKeyFile, s.newKey); err != nil {
		t.Fatal(err)
	}
	return s
}

// runKilled starts the child and, once it has opened the vault, kills it
// after delay (or lets it finish when delay < 0). It returns how long the
// change took from "ready" to exit, and whether the child finished.
func runKilled(t *testing.T, s crashSetup, mode string, reencrypt bool, delay time.Duration) (time.Duration, bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The race detector sleeps 1s at exit unless told not to.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", childEnv+"="+mode, "T_VAULT="+s.path, "T_KEYFILE="+s.keyFile, "T_NEWKEY="+s.newKeyFile)
	if reencrypt {
		cmd.Env = append(cmd.Env, "T_REENCRYPT=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make([]byte, 6)
	if _, err := io.ReadFull(out, ready); err != nil {
		cmd.Wait()
		t.Fatalf("child %s did not start: %v", mode, err)
	}
	start := time.Now()
	if delay >= 0 {
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
	}
	err = cmd.Wait()
	if delay < 0 && err != nil {
		t.Fatalf("child %s: %v", mode, err)
	}
	return time.Since(start), err == nil
}

// changeTime is the shortest of three uninterrupted runs of the change: kills
// at a uniform delay below it land all over the transaction.
func changeTime(t *testing.T, mode string) time.Duration {
	best := time.Hour
	for range 3 {
		d, _ := runKilled(t, newCrashSetup(t), mode, true, -1)
		best = min(best, d)
	}
	return best
}

func checkValues(t *testing.T, v *Vault, names []string) (allNew bool) {
	t.Helper()
	var olds, news int
	for _, n := range names {
		got := mustGet(t, v, n)
		switch got {
		case "old-" + n:
			olds++
		case "new-" + n:
			news++
		default:
			t.Fatalf("%s = %q: neither the old nor the new value", n, got)
		}
	}
	if olds != 0 && news != 0 {
		t.Fatalf("a mix of old and new values in one transaction: %d old, %d new", olds, news)
	}
	return news > 0
}

// TestCrashDuringSet kills a child in the middle of an Import (one
// transaction of three values) followed by a Set: the vault must open, with
// the three values all old or all new.
func TestCrashDuringSet(t *testing.T) {
	base := changeTime(t, "import")
	var newCount, trials = 0, 30
	for range trials {
		s := newCrashSetup(t)
		runKilled(t, s, "import", false, time.Duration(rand.Int64N(int64(base))))
		k, err := ReadKeyFile(s.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Open(s.path, k, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("vault broken after a kill: %v", err)
		}
		if checkValues(t, v, []string{"A", "B", "C"}) {
			newCount++
		}
		checkValues(t, v, []string{"D"})
		v.Close()
	}
	t.Logf("the change takes %v; %d/%d kills left the new values", base, newCount, trials)
}

// TestCrashDuringRotateKey kills a child in the middle of rotate-key with a
// key file: the key file (with its pending key) must still open the vault,
// exactly one of the old and new keys must, and the values must be intact.
func TestCrashDuringRotateKey(t *testing.T) {
	base := changeTime(t, "rotate")
	outcomes := map[string]int{}
	for i := range 30 {
		s := newCrashSetup(t)
		_, finished := runKilled(t, s, "rotate", i%2 == 0, time.Duration(rand.Int64N(int64(base))))
		k, err := ReadKeyFile(s.keyFile)
		if err != nil {
			t.Fatalf("key file unreadable after a kill: %v", err)
		}
		v, err := Open(s.path, k, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("key file no longer opens the vault after a kill: %v", err)
		}
		checkValues(t, v, []string{"A", "B", "C", "D"})
		v.Close()
		oldOK, newOK := opens(s.path, s.oldKey), opens(s.path, s.newKey)
		if oldOK == newOK {
			t.Fatalf("old key opens: %v, new key opens: %v; want exactly one", oldOK, newOK)
		}
		_, pendErr := os.Stat(pendingKeyPath(s.keyFile))
		state := fmt.Sprintf("finished=%v new=%v pending=%v", finished, newOK, pendErr == nil)
		outcomes[state]++
		// A read-write open settles the key file.
		w, err := Open(s.path, k, Options{})
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		k2, err := ReadKeyFile(s.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if !opens(s.path, k2) {
			t.Fatal("key file does not open the vault after a read-write open")
		}
	}
	t.Logf("the change takes %v; outcomes %v", base, outcomes)
}

func opens(path string, k MasterKey) bool {
	k.file = "" // no pending fallback: this key alone
	v, err := Open(path, k, Options{ReadOnly: true})
	if err == nil {
		v.Close()
	}
	return err == nil
}
