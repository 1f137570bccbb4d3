//go:build linux

package sandbox

import (
	"fmt"
	"runtime"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// New makes a sandbox for p. In ModeAuto it confines as far as the kernel
// allows (Status says how far); in ModeRequire it fails, wrapping
// ErrUnavailable, unless Landlock is in force.
func New(p Policy, mode Mode) (*Sandbox, error) {
	if mode == ModeOff {
		// A thread of its own all the same: Pdeathsig is about the thread
		// that started a process, and this one ends only with Close.
		s := &Sandbox{reqs: make(chan func()), done: make(chan struct{}), status: Status{Reason: "the sandbox is turned off"}}
		ready := make(chan error)
		go s.serve(false, -1, 0, ready)
		<-ready
		return s, nil
	}
	abi, err := ll.LandlockGetABIVersion()
	if err != nil {
		abi = 0
	}
	fd, flags := -1, uint32(0)
	var reason string
	if abi < 1 {
		reason = "this kernel has no Landlock (Linux 5.13 or later, with landlock in its lsm= list, has)"
	} else {
		fd, flags, err = ruleset(p, abi)
		if err != nil {
			reason = "Landlock: " + err.Error()
			abi = 0
		}
	}
	if abi < 1 && mode == ModeRequire {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	s := &Sandbox{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error)
	go s.serve(true, fd, flags, ready)
	if err := <-ready; err != nil {
		// The thread could not be confined (it has ended): processes start
		// from the caller's thread, unconfined.
		s.reqs, s.done = nil, nil
		if mode == ModeRequire {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return &Sandbox{status: Status{Reason: err.Error()}}, nil
	}
	s.status = Status{Landlock: abi, Reason: reason}
	return s, nil
}

// ruleset creates the Landlock ruleset of p (its file descriptor is for
// the confined thread to enforce).
func ruleset(p Policy, abi int) (fd int, flags uint32, err error) {
	cfg := landlock.V11
	// The network stays open: blocks call APIs. What Landlock scopes
	// (signals, abstract UNIX sockets) and file access are restricted.
	cfg.HandledAccessNet = 0
	cfg = cfg.BestEffort()
	var rules []landlock.Rule
	for _, g := range p.grants() {
		var r landlock.FSRule
		switch {
		case g.dir && g.write:
			r = landlock.RWDirs(g.path).WithResolveUnix()
			if abi >= 2 { // on ABI 1, asking for "refer" voids the whole ruleset
				r = r.WithRefer()
			}
		case g.write:
			r = landlock.RWFiles(g.path).WithIoctlDev()
		case g.dir:
			r = landlock.RODirs(g.path)
		default:
			r = landlock.ROFiles(g.path)
		}
		rules = append(rules, r)
	}
	fd, flags, err = cfg.NewRulesetFD(rules...)
	if err == nil && fd < 0 {
		err = fmt.Errorf("nothing to enforce")
	}
	return fd, flags, err
}

// serve confines the calling goroutine's thread and then runs the
// sandbox's work on it until Close. The thread is never unlocked: when
// serve returns, the runtime ends it rather than give other goroutines a
// confined thread.
func (s *Sandbox) serve(confine bool, fd int, flags uint32, ready chan<- error) {
	runtime.LockOSThread()
	var err error
	if confine {
		err = confineThread(fd, flags)
	}
	if fd >= 0 {
		unix.Close(fd)
	}
	ready <- err
	if err != nil {
		return
	}
	defer close(s.done)
	for f := range s.reqs {
		f()
	}
}

// confineThread gives the calling thread no_new_privs, no capabilities to
// pass on, and the Landlock ruleset fd (when fd >= 0). It changes the
// calling thread only: capabilities, no_new_privs and Landlock domains
// are per thread, and are inherited by the processes it starts.
func confineThread(fd int, flags uint32) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := dropCapabilities(); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	if fd >= 0 {
		if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
			return fmt.Errorf("landlock_restrict_self: %w", err)
		}
	}
	return nil
}

// dropCapabilities empties the thread's capability bounding set (where it
// may: root can) and its inheritable and ambient sets, so that a program
// it executes, even as root, starts with no capability.
func dropCapabilities() error {
	for c := 0; c < 64; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL || err == unix.EPERM {
			// Past the last capability, or not allowed to drop: a process
			// without CAP_SETPCAP, which has no capability to pass on.
			break
		}
		if err != nil {
			return err
		}
	}
	// EINVAL before Linux 4.3, which had no ambient set.
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	return unix.Capset(&hdr, &data[0])
}

// ProtectSelf marks the calling process non-dumpable: another process of
// the same user can then neither ptrace it nor read its memory or
// environment (/proc/PID/mem, /proc/PID/environ), and it leaves no core
// dump. It is for a process that holds secrets (bp's key, a server's
// token), and costs a debugger its attach.
func ProtectSelf() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
