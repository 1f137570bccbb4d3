package pyrun

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errServerLost means the fork server died before it forked the block.
var errServerLost = errors.New("pyrun: fork server lost")

// server is a running fork server process.
type server struct {
	cmd    *exec.Cmd
	conn   *net.UnixConn
	stderr *tailBuffer

	ready     chan struct{} // closed on "R"
	readyOnce sync.Once
	dead      chan struct{} // closed when the connection is lost
	exited    chan struct{} // closed when the process has been reaped

	mu      sync.Mutex
	gone    bool
	nextID  uint64
	pending map[uint64]*child
}

func startServer(python string, env []string) (*server, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
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
		conn:    conn,
		stderr:  &tailBuffer{max: 4096},
		ready:   make(chan struct{}),
		dead:    make(chan struct{}),
		exited:  make(chan struct{}),
		pending: make(map[uint64]*child),
	}
	cmd := exec.Command(python, "-I", "-c", harnessSource, "serve")
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{pyEnd} // fd 3
	cmd.Stderr = s.stderr
	// Its own session: no terminal signals; blocks get their own groups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("pyrun: starting fork server: %w", err)
	}
	s.cmd = cmd
	go s.readLoop()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

func (s *server) stderrTail() string {
	t := strings.TrimSpace(s.stderr.String())
	if t == "" {
		return ""
	}
	return ": " + t
}

func (s *server) readLoop() {
	buf := make([]byte, 512)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			break
		}
		s.handle(string(buf[:n]))
	}
	s.mu.Lock()
	s.gone = true
	for id, c := range s.pending {
		c.update(func(c *child) { c.lost = true })
		delete(s.pending, id)
	}
	s.mu.Unlock()
	s.conn.Close()
	close(s.dead)
	// The server exits on EOF; make sure, then reap it.
	t := time.AfterFunc(2*time.Second, func() { _ = s.cmd.Process.Kill() })
	_ = s.cmd.Wait()
	t.Stop()
	close(s.exited)
}

func (s *server) handle(msg string) {
	f := strings.SplitN(msg, " ", 3)
	if f[0] == "R" {
		s.readyOnce.Do(func() { close(s.ready) })
		return
	}
	if len(f) < 3 {
		return
	}
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.pending[id]
	if c == nil {
		return
	}
	switch f[0] {
	case "P":
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid <= 0 {
			return
		}
		c.update(func(c *child) { c.pid = pid })
	case "X":
		st, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		delete(s.pending, id)
		c.update(func(c *child) { c.exited, c.status = true, unix.WaitStatus(st) })
	case "E":
		delete(s.pending, id)
		c.update(func(c *child) { c.spawnErr = f[2] })
	}
}

// spawn asks the server to fork a child with fds (request, stdout, stderr,
// answer). It returns the id to forget the child with.
func (s *server) spawn(c *child, fds []int) (uint64, error) {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return 0, errServerLost
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = c
	s.mu.Unlock()
	msg := []byte("S " + strconv.FormatUint(id, 10))
	if _, _, err := s.conn.WriteMsgUnix(msg, unix.UnixRights(fds...), nil); err != nil {
		s.forget(id)
		return 0, errServerLost
	}
	return id, nil
}

// forget stops reporting to the child with id.
func (s *server) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// close stops the server: it kills the process groups of its children and
// exits when its socket closes.
func (s *server) close() {
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
