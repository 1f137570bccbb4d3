// Package sandbox confines the processes bp starts to run a blueprint's
// untrusted code (Python code blocks), so that they cannot reach what bp
// itself can: its vault and key files, its run history, its configuration,
// its own memory and environment.
//
// # Linux
//
// A Sandbox owns one OS thread, set apart for starting processes. That
// thread, and so every process it starts and their descendants, has:
//
//   - no_new_privs, so that nothing it executes gains privileges (a
//     set-user-ID bp, sudo);
//   - an empty capability bounding set and no inheritable or ambient
//     capabilities, so that even a process run as root executes programs
//     without capabilities (no CAP_SYS_PTRACE, no CAP_DAC_OVERRIDE, no
//     writing of kernel parameters);
//   - a Landlock domain: files can be read only beneath Policy.Read and
//     written only beneath Policy.Write, minus Policy.Deny; the process
//     cannot ptrace, read the memory or environment of, or signal a
//     process outside the domain (bp itself), nor connect to its abstract
//     UNIX sockets.
//
// Landlock is an allow-list, so what bp must protect is denied by not being
// listed; Policy.Deny only matters where a protected file lies beneath a
// listed tree (a vault kept beside its blueprints): such a tree is then
// granted entry by entry, around the protected path.
//
// The thread is never returned to the Go scheduler: when the Sandbox
// closes, its goroutine ends and the runtime destroys the thread.
// Processes started with Pdeathsig die with it.
//
// Call ProtectSelf once, early, in a program that holds secrets: it marks
// the process non-dumpable, so that another process of the same user
// cannot read its memory or environment through /proc or ptrace even
// where Landlock is missing.
//
// # Elsewhere
//
// On other systems, and on a Linux kernel without Landlock, New returns a
// Sandbox that starts processes unconfined and says so in Warning; in
// ModeRequire it returns an error instead.
package sandbox

import (
	"errors"
	"fmt"
	"sync"
)

// Mode says how much confinement a Sandbox insists on.
type Mode int

const (
	// ModeAuto confines as far as the system allows and warns about
	// what it could not do (the default).
	ModeAuto Mode = iota
	// ModeRequire refuses to start processes unless they are confined.
	ModeRequire
	// ModeOff starts processes unconfined, on purpose.
	ModeOff
)

// ParseMode reads "auto", "require" or "off" ("" is auto).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "require":
		return ModeRequire, nil
	case "off":
		return ModeOff, nil
	}
	return ModeAuto, fmt.Errorf("sandbox mode must be auto, require or off, not %q", s)
}

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeRequire:
		return "require"
	case ModeOff:
		return "off"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrUnavailable is wrapped by New's error in ModeRequire when the system
// cannot confine processes.
var ErrUnavailable = errors.New("sandbox unavailable")

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("sandbox: closed")

// Status is what a Sandbox enforces.
type Status struct {
	// Landlock is the kernel's Landlock ABI version in force, 0 without.
	Landlock int
	// Reason says why processes are not confined ("" when they are).
	Reason string
}

// Confined reports whether processes started by Do are confined.
func (s Status) Confined() bool { return s.Landlock > 0 }

// Sandbox starts processes confined by a Policy. It is safe for
// concurrent use.
type Sandbox struct {
	status Status
	// reqs carries work to the confined thread; nil when there is none
	// (ModeOff, or a system that cannot confine).
	reqs chan func()
	done chan struct{}

	mu     sync.Mutex
	closed bool
}

// Status reports what the sandbox enforces.
func (s *Sandbox) Status() Status { return s.status }

// Do runs f where the processes f starts are confined: on Linux, on the
// sandbox's own thread. f must start processes only with syscall.ForkExec
// or os/exec in the calling goroutine, and must not block for long: other
// starts wait for it.
func (s *Sandbox) Do(f func() error) error {
	res := make(chan error, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.reqs == nil {
		s.mu.Unlock()
		return f()
	}
	s.reqs <- func() { res <- f() }
	s.mu.Unlock()
	return <-res
}

// Close ends the sandbox's thread. Processes started with Pdeathsig get
// their signal then.
func (s *Sandbox) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.reqs != nil {
		close(s.reqs)
	}
	s.mu.Unlock()
	if s.done != nil {
		<-s.done
	}
}
