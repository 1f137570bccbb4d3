//go:build unix

package pyrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bprun/bp/internal/sandbox"
)

// errServerLost means the fork server died (or could not fork) before the
// block was handed to a child: the block can run fresh instead.
var errServerLost = errors.New("pyrun: fork server lost")

// spareCount is how many forked children the server keeps ready.
const spareCount = 2

// spareProc is a forked, warm child waiting for a block: sock is Go's end of
// its socket.
type spareProc struct {
	pid  int
	sock int
}

// server is a running fork server process.
type server struct {
	cmd    *exec.Cmd
	conn   *net.UnixConn
	stderr *tailBuffer

	ready     chan struct{} // closed on "R"
	readyOnce sync.Once
	dead      chan struct{} // closed when the connection is lost
	exited    chan struct{} // closed when the process has been reaped
	spares    chan spareProc

	mu       sync.Mutex
	gone     bool
	children map[int]*child // running blocks by pid

	// counted is set once a failed start has been counted against the
	// runner (Runner.failed); guarded by the runner's mu.
	counted bool
}

// startServer starts a fork server for r.
func (r *Runner) startServer() (*server, error) {
	code, err := r.harnessPipe()
	if err != nil {
		return nil, err
	}
	if code != nil {
		defer code.Close()
	}
	return startServer(r.argv("serve"), r.env, r.sandbox, code)
}

// startServer starts a fork server: argv's harness on fd 3's socket, with
// the compiled harness on fd 4 when code is not nil.
func startServer(argv []string, env []string, sb *sandbox.Sandbox, code *os.File) (*server, error) {
	fds, err := seqpacketPair()
	if err != nil {
		return nil, fmt.Errorf("pyrun: socketpair: %w", err)
	}
	goEnd := os.NewFile(uintptr(fds[0]), "pyrun-server")
	pyEnd := os.NewFile(uintptr(fds[1]), "pyrun-server-peer")
	defer pyEnd.Close()
	fc, err := net.FileConn(goEnd)
	goEnd.Close()
	if err != nil {
		return nil, fmt.Errorf("pyrun: fork server socket: %w", err)
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return nil, fmt.Errorf("pyrun: fork server socket is %T", fc)
	}
	s := &server{
		conn:     conn,
		stderr:   &tailBuffer{max: 4096},
		ready:    make(chan struct{}),
		dead:     make(chan struct{}),
		exited:   make(chan struct{}),
		spares:   make(chan spareProc, 256),
		children: make(map[int]*child),
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{pyEnd} // fd 3
	if code != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, code) // fd 4
	}
	cmd.Stderr = s.stderr
	// Its own session: no terminal signals; blocks get their own groups.
	// It dies with the sandbox's thread, so with the runner or bp.
	cmd.SysProcAttr = serverAttr()
	if err := sb.Do(cmd.Start); err != nil {
		conn.Close()
		return nil, fmt.Errorf("pyrun: starting fork server: %w", err)
	}
	s.cmd = cmd
	go s.readLoop()
	s.request(spareCount)
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

func (s *server) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// exitPreload is the server's exit status when a module to preload does
// not import (harness.py's _EXIT_PRELOAD); its stderr says why.
const exitPreload = 86

// preloadFailed reports whether the server exited because a preload failed
// (call it once exited is closed).
func (s *server) preloadFailed() bool {
	return s.cmd.ProcessState != nil && s.cmd.ProcessState.ExitCode() == exitPreload
}

func (s *server) stderrTail() string {
	t := strings.TrimSpace(s.stderr.String())
	if t == "" {
		return ""
	}
	return ": " + t
}

// request asks for n more spare children.
func (s *server) request(n int) {
	_, _ = s.conn.Write([]byte(strings.Repeat("N", n)))
}

func (s *server) readLoop() {
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(8*4))
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			break
		}
		s.handle(string(buf[:n]), receivedFDs(oob[:oobn]))
	}
	s.mu.Lock()
	s.gone = true
	for pid, c := range s.children {
		c.update(func(c *child) { c.lost = true })
		delete(s.children, pid)
	}
	s.mu.Unlock()
	s.conn.Close()
	close(s.dead)
	// Spares not handed out: closing their sockets makes them exit.
	for {
		select {
		case sp := <-s.spares:
			if sp.sock >= 0 {
				unix.Close(sp.sock)
			}
			continue
		default:
		}
		break
	}
	// The server exits on EOF; make sure, then reap it.
	// Its process group: what a preloaded module started goes too.
	t := time.AfterFunc(2*time.Second, func() { killGroup(s.cmd.Process.Pid) })
	_ = s.cmd.Wait()
	t.Stop()
	close(s.exited)
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

func (s *server) handle(msg string, fds []int) {
	f := strings.SplitN(msg, " ", 3)
	switch f[0] {
	case "R":
		s.readyOnce.Do(func() { close(s.ready) })
	case "N":
		pid := 0
		if len(f) == 2 {
			pid, _ = strconv.Atoi(f[1])
		}
		if pid <= 0 || len(fds) != 1 {
			break
		}
		if len(s.spares) >= spareCount {
			break // more than anyone needs (after cancelled waits): let it go
		}
		select {
		case s.spares <- spareProc{pid: pid, sock: fds[0]}:
			fds = nil
		default:
		}
	case "X":
		if len(f) != 3 {
			break
		}
		pid, err1 := strconv.Atoi(f[1])
		st, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			break
		}
		s.mu.Lock()
		if c := s.children[pid]; c != nil {
			delete(s.children, pid)
			c.update(func(c *child) { c.exited, c.status = true, unix.WaitStatus(st) })
		}
		s.mu.Unlock()
	case "E":
		// The server could not fork: whoever waits for a spare runs fresh.
		select {
		case s.spares <- spareProc{pid: -1, sock: -1}:
		default:
		}
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// take returns a spare child. When it took one that was ready, replace is
// set: the caller asks for its replacement (request(1)) once the block is
// done, so that the server's fork does not compete with the block for the
// CPU. When none was ready, take asks for one itself and waits. A block's
// timeout (from start) includes waiting for its child.
func (s *server) take(ctx context.Context, start time.Time, timeout time.Duration) (sp spareProc, replace bool, err error) {
	select {
	case sp := <-s.spares:
		if sp.pid < 0 {
			s.request(1)
			return sp, false, errServerLost
		}
		return sp, true, nil
	default:
	}
	s.request(1)
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(time.Until(start.Add(timeout)))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-expired:
		return spareProc{}, false, fmt.Errorf("%w after %v", ErrTimeout, timeout)
	case sp := <-s.spares:
		if sp.pid < 0 {
			return sp, false, errServerLost
		}
		return sp, false, nil
	case <-s.dead:
		return spareProc{}, false, errServerLost
	case <-ctx.Done():
		return spareProc{}, false, fmt.Errorf("python block cancelled: %w", ctx.Err())
	}
}

// register reports the exit of pid to c.
func (s *server) register(pid int, c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		c.update(func(c *child) { c.lost = true })
		return
	}
	s.children[pid] = c
}

func (s *server) unregister(pid int) {
	s.mu.Lock()
	delete(s.children, pid)
	s.mu.Unlock()
}

// close stops the server: it kills the process groups of its children and
// exits when its socket closes.
func (s *server) close() {
	if !s.isReady() {
		// Still starting: it would see its socket closed only once started.
		killGroup(s.pid())
	}
	s.conn.Close()
	<-s.dead
	<-s.exited
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
