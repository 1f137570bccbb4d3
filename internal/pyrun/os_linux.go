package pyrun

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// forkServer says whether this system runs the fork server (ModeForkServer):
// it needs SOCK_SEQPACKET UNIX sockets and PR_SET_CHILD_SUBREAPER.
const forkServer = true

// newWaker returns what wakes a session's poll: one eventfd.
func newWaker() (r, w int, err error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	return fd, fd, err
}

func pipeCloexec(fds []int) error { return unix.Pipe2(fds, unix.O_CLOEXEC) }

func seqpacketPair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
}

// growPipe makes room for n bytes in a pipe.
func growPipe(fd, n int) { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, n) }

// freshAttr starts a fresh block in a process group of its own, killed
// with the thread that starts it (the sandbox's: the runner's life).
func freshAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// serverAttr starts the fork server in a session of its own (no terminal
// signals; blocks get their own groups), killed with the sandbox's thread.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}

// waitKillGroup waits for pid to exit without reaping it, kills what it
// left in its process group while its pid cannot be reused, then reaps it.
func waitKillGroup(pid int) unix.WaitStatus {
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	_ = unix.Kill(-pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	return ws
}
