//go:build unix && !linux

package pyrun

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// forkServer: macOS and the BSDs have no SOCK_SEQPACKET UNIX sockets (the
// fork server's channel to Go), and no child subreaper: blocks run fresh.
const forkServer = false

// newWaker returns what wakes a session's poll: a pipe.
func newWaker() (r, w int, err error) {
	var fds [2]int
	if err := pipeCloexec(fds[:]); err != nil {
		return -1, -1, err
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return -1, -1, err
		}
	}
	return fds[0], fds[1], nil
}

func pipeCloexec(fds []int) error {
	// Under ForkLock, so that no process started meanwhile inherits them.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(fds); err != nil {
		return err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return nil
}

func seqpacketPair() ([2]int, error) {
	return [2]int{-1, -1}, errors.New("no fork server on this system")
}

func growPipe(fd, n int) {}

func freshAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func serverAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// waitKillGroup reaps pid, then kills what it left in its process group
// (without waitid's WNOWAIT, a pid reused in between would be hit: rare).
func waitKillGroup(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	_ = unix.Kill(-pid, unix.SIGKILL)
	return ws
}
