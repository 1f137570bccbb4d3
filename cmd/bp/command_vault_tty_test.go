//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open slave: %v", err)
	}
	return m, s
}

// TestVaultCLISetFromTerminal types a value into 'bp vault set' on a
// terminal: it must be read without echo, so the terminal never shows it.
func TestVaultCLISetFromTerminal(t *testing.T) {
	e, _, _ := vaultEnv(t)
	wantCode(t, e.run("", "vault", "init"), 0)
	master, slave := openPTY(t)
	defer master.Close()
	const typed = "typed-secret-9c4e"

	cmd := exec.Command(bpBinary, "vault", "set", "TYPED")
	cmd.Env, cmd.Dir = e.vars, e.home
	cmd.Stdin, cmd.Stderr = slave, slave
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	screen := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once bp exits
		screen <- string(b)
	}()
	// Type only once bp has turned echo off.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err == nil && tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("bp never turned terminal echo off")
		}
		time.Sleep(5 * time.Millisecond)
	}
	master.Write([]byte(typed + "\r"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bp vault set on a terminal: %v\n%s", err, out.String())
	}
	shown := <-screen
	if !strings.Contains(shown, "input hidden") {
		t.Errorf("no prompt on the terminal: %q", shown)
	}
	if strings.Contains(shown, typed) || strings.Contains(out.String(), typed) {
		t.Fatalf("typed value echoed: %q", shown)
	}
	r := e.run("", "vault", "get", "TYPED", "--reveal")
	if r.stdout != typed {
		t.Fatalf("stored %q, want %q", r.stdout, typed)
	}
}

// TestVaultCLISetInterrupted presses Ctrl-C while 'bp vault set' waits for
// hidden input: bp exits 130 and the terminal has its echo back.
func TestVaultCLISetInterrupted(t *testing.T) {
	e, _, _ := vaultEnv(t)
	wantCode(t, e.run("", "vault", "init"), 0)
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(bpBinary, "vault", "set", "TYPED")
	cmd.Env, cmd.Dir = e.vars, e.home
	cmd.Stdin, cmd.Stderr, cmd.Stdout = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer slave.Close() // kept open so the terminal state can be read after bp exits
	go io.Copy(io.Discard, master)
	echoOn := func() bool {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO != 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for echoOn() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("bp never turned terminal echo off")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130", code)
	}
	if !echoOn() {
		t.Fatal("terminal echo left off after Ctrl-C")
	}
}
