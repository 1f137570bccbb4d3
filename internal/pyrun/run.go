//go:build unix

package pyrun

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// exitGrace is how long output is still read after the child exited
	// (its process group is killed then; this only matters for a
	// descendant that left the group and kept a pipe open).
	exitGrace = 200 * time.Millisecond
	// killGrace is how long Run waits for a killed child to be gone.
	killGrace = 2 * time.Second
	// lostProbe is how often a child whose server died is checked for life.
	lostProbe = 50 * time.Millisecond
	// maxFrame bounds one answer frame (the done frame holds the state).
	maxFrame = 256 << 20
)

// child is the state of one block's process, shared between Run and the
// goroutine that learns about the process (fork server reader or waiter).
type child struct {
	mu       sync.Mutex
	wakeFD   int // what wakes Run's poll (read end)
	wakeW    int // where update writes to wake it (may be wakeFD)
	closed   bool
	pid      int
	exited   bool
	status   unix.WaitStatus
	lost     bool   // the fork server died: no exit report will come
	spawnErr string // the server could not fork
}

func newChild() (*child, error) {
	r, w, err := newWaker()
	if err != nil {
		return nil, fmt.Errorf("pyrun: waker: %w", err)
	}
	return &child{wakeFD: r, wakeW: w}, nil
}

var one = [8]byte{1}

// update changes the child's state and wakes Run.
func (c *child) update(f func(*child)) {
	c.mu.Lock()
	f(c)
	if !c.closed {
		_, _ = unix.Write(c.wakeW, one[:])
	}
	c.mu.Unlock()
}

func (c *child) wake() { c.update(func(*child) {}) }

func (c *child) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		unix.Close(c.wakeFD)
		if c.wakeW != c.wakeFD {
			unix.Close(c.wakeW)
		}
	}
	c.mu.Unlock()
}

type snapshot struct {
	pid      int
	exited   bool
	status   unix.WaitStatus
	lost     bool
	spawnErr string
}

func (c *child) snapshot() snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return snapshot{c.pid, c.exited, c.status, c.lost, c.spawnErr}
}

// pipes are a block's four pipes: Go's ends and the child's ends.
type pipes struct {
	goEnd    [4]int // request (write), stdout, stderr, answer (read); -1 when closed
	childEnd [4]int // request (read), stdout, stderr, answer (write)
}

func newPipes() (*pipes, error) {
	p := &pipes{goEnd: [4]int{-1, -1, -1, -1}, childEnd: [4]int{-1, -1, -1, -1}}
	for i := 0; i < 4; i++ {
		var fds [2]int
		if err := pipeCloexec(fds[:]); err != nil {
			p.closeAll()
			return nil, fmt.Errorf("pyrun: pipe: %w", err)
		}
		r, w := fds[0], fds[1]
		if i == 0 { // request: the child reads
			p.goEnd[i], p.childEnd[i] = w, r
		} else {
			p.goEnd[i], p.childEnd[i] = r, w
		}
		// Only Go's end is non-blocking (O_NONBLOCK is per end of a pipe).
		// Its only status flag: set it in one call (SetNonblock takes two).
		if _, err := unix.FcntlInt(uintptr(p.goEnd[i]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
			p.closeAll()
			return nil, fmt.Errorf("pyrun: pipe: %w", err)
		}
	}
	return p, nil
}

func (p *pipes) closeChildEnds() {
	for i, fd := range p.childEnd {
		if fd >= 0 {
			unix.Close(fd)
			p.childEnd[i] = -1
		}
	}
}

func (p *pipes) closeAll() {
	p.closeChildEnds()
	for i, fd := range p.goEnd {
		if fd >= 0 {
			unix.Close(fd)
			p.goEnd[i] = -1
		}
	}
}

func encodeRequest(req *Request) ([]byte, error) {
	w := wireRequest{
		Code: req.Code, Vault: req.Vault, State: req.State,
		Payload: req.Payload, Result: req.Result, Results: req.Results,
		Context: req.Context, Item: req.Item, ItemID: req.ItemID, Globals: req.Globals,
	}
	if w.Vault == nil {
		w.Vault = map[string]string{}
	}
	if w.State == nil {
		w.State = map[string]any{}
	}
	data, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("pyrun: encoding the block's inputs: %w", err)
	}
	return data, nil
}

// killGroup kills the process group of pid (and pid itself).
func killGroup(pid int) {
	if pid <= 0 {
		return
	}
	if err := unix.Kill(-pid, unix.SIGKILL); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

func (r *Runner) runFork(ctx context.Context, srv *server, req *Request, data []byte, h Handler) (*Response, error) {
	c, err := newChild()
	if err != nil {
		return nil, err
	}
	defer c.close()
	p, err := newPipes()
	if err != nil {
		return nil, err
	}
	defer p.closeAll()
	start := time.Now()
	// The request goes into its pipe now (up to the pipe's capacity), so
	// that the child finds it there at once rather than wait for Go to wake
	// up and write it: a block's every handover between processes costs
	// tens of microseconds.
	s := session{c: c, p: p, h: h, req: data}
	s.writeReq()
	keep := r.isolation == IsolateRun && req.Session != ""
	msg := []byte("go") // run one block, then exit
	if keep {
		msg = []byte("keep") // run it, then wait for the session's next
	}
	var sp spareProc
	for attempt := 0; ; attempt++ {
		var ok bool
		if keep {
			sp, ok = r.idleWorker(srv, req.Session)
		}
		if !ok {
			var replace bool
			sp, replace, err = srv.take(ctx, start, req.Timeout)
			if err != nil {
				return nil, err
			}
			if replace {
				defer srv.request(1) // after the block: see take
			}
		}
		c.update(func(c *child) { c.pid = sp.pid })
		srv.register(sp.pid, c)
		// Hand the block's pipes to the waiting child. A child that died
		// has closed its socket, so this fails rather than hang.
		err = unix.Sendmsg(sp.sock, msg, unix.UnixRights(p.childEnd[:]...), nil, unix.MSG_NOSIGNAL)
		if err == nil {
			break
		}
		unix.Close(sp.sock)
		srv.unregister(sp.pid)
		if attempt == 2 {
			return nil, errServerLost
		}
	}
	defer srv.unregister(sp.pid)
	p.closeChildEnds()
	resp, err := s.run(ctx, start, req.Timeout)
	if keep && s.reusable() {
		r.putWorker(srv, req.Session, sp)
	} else {
		unix.Close(sp.sock)
	}
	return resp, err
}

func (r *Runner) runFresh(ctx context.Context, req *Request, data []byte, h Handler) (*Response, error) {
	c, err := newChild()
	if err != nil {
		return nil, err
	}
	defer c.close()
	p, err := newPipes()
	if err != nil {
		return nil, err
	}
	defer p.closeAll()
	s := session{c: c, p: p, h: h, req: data}
	s.writeReq() // as in runFork
	argv := r.argv("child")
	files := make([]uintptr, 4, 5)
	for i, fd := range p.childEnd {
		files[i] = uintptr(fd)
	}
	code, err := r.harnessPipe()
	if err != nil {
		return nil, err
	}
	if code != nil {
		defer code.Close()
		files = append(files, code.Fd())
	}
	var pid int
	err = r.sandbox.Do(func() (err error) {
		pid, err = syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
			Env:   r.env,
			Files: files,
			Sys:   freshAttr(),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pyrun: starting %s: %w", argv[0], err)
	}
	p.closeChildEnds()
	c.update(func(c *child) { c.pid = pid })
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		ws := waitKillGroup(pid)
		c.update(func(c *child) { c.exited, c.status = true, ws })
	}()
	resp, err := s.run(ctx, time.Now(), req.Timeout)
	if err != nil {
		// Not answered: make sure it is gone before returning.
		select {
		case <-waited:
		default:
			killTree(pid)
			<-waited
		}
	}
	return resp, err
}

// session reads one block's pipes until it has answered and exited.
type session struct {
	c   *child
	p   *pipes
	h   Handler
	req []byte // request bytes not yet written

	buf      []byte // read buffer
	frames   []byte // answer bytes not yet parsed
	done     []byte // the answer
	gotDone  bool
	protoErr error
	// idle is set when the child answered, closed its pipes and is still
	// alive: a worker of IsolateRun, ready for its session's next block.
	idle bool
}

// reusable reports whether the child may run another block.
func (s *session) reusable() bool { return s.idle }

type stopReason int

const (
	notStopped stopReason = iota
	stopTimeout
	stopCancel
	stopProto
)

func (s *session) run(ctx context.Context, start time.Time, timeout time.Duration) (*Response, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	stopWake := context.AfterFunc(ctx, s.c.wake)
	defer stopWake()
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}

	var (
		reason   stopReason
		stopAt   time.Time // when reason was set
		killed   bool
		exitAt   time.Time // when the child was known to have exited
		exited   bool
		status   unix.WaitStatus
		lost     bool
		pid      int
		lastPing time.Time
		exiting  bool      // answered and closed its pipes, not yet reaped
		doneAt   time.Time // when the answer arrived
	)
	pfds := make([]unix.PollFd, 0, 5)
	idx := make([]int, 0, 5) // pipe index per pollfd, -1 for the eventfd
	for {
		st := s.c.snapshot()
		if st.spawnErr != "" {
			return nil, fmt.Errorf("pyrun: fork server could not start the block: %s", st.spawnErr)
		}
		pid, lost = st.pid, st.lost
		if lost && pid == 0 {
			return nil, errServerLost
		}
		if st.exited && !exited {
			exited, status = true, st.status
		}
		now := time.Now()
		if lost && !exited && now.Sub(lastPing) >= lostProbe {
			lastPing = now
			// Gone, a zombie nobody reaps, or its pipes all closed.
			if unix.Kill(pid, 0) == unix.ESRCH || isZombie(pid) ||
				(s.p.goEnd[1] < 0 && s.p.goEnd[2] < 0 && s.p.goEnd[3] < 0) {
				exited = true
			}
		}
		if exited && exitAt.IsZero() {
			exitAt = now
			s.closeReq()
		}
		if reason == notStopped && !s.gotDone && !exited {
			if ctx.Err() != nil {
				reason = stopCancel
			} else if !deadline.IsZero() && !now.Before(deadline) {
				reason = stopTimeout
			} else if s.protoErr != nil {
				reason = stopProto
			}
			if reason != notStopped {
				stopAt = now
			}
		}
		if reason != notStopped && !killed && pid != 0 {
			killTree(pid)
			killed = true
			s.closeReq()
		}
		allEOF := s.p.goEnd[1] < 0 && s.p.goEnd[2] < 0 && s.p.goEnd[3] < 0
		if allEOF && (exited || s.gotDone) {
			// Answered and closed everything: it is exiting. Whatever it
			// left in its process group is killed when it has exited (by
			// the fork server, or the waiter in fresh mode).
			exiting = !exited
			s.idle = exiting && reason == notStopped && s.protoErr == nil
			break
		}
		if !exitAt.IsZero() && now.Sub(exitAt) >= exitGrace {
			break
		}
		// An answer ends the block: the child has exitGrace to exit, and is
		// then killed, so a block that answers and goes on cannot outlive
		// its timeout.
		if s.gotDone && doneAt.IsZero() {
			doneAt = now
		}
		if !doneAt.IsZero() && now.Sub(doneAt) >= exitGrace {
			break
		}
		if reason != notStopped && now.Sub(stopAt) >= killGrace {
			break
		}

		// Poll until something happens or the next deadline.
		wait := time.Duration(-1)
		until := func(t time.Time) {
			if d := t.Sub(now); wait < 0 || d < wait {
				wait = d
			}
		}
		if reason == notStopped && !deadline.IsZero() && !s.gotDone {
			until(deadline)
		}
		if !exitAt.IsZero() {
			until(exitAt.Add(exitGrace))
		}
		if !doneAt.IsZero() {
			until(doneAt.Add(exitGrace))
		}
		if reason != notStopped {
			until(stopAt.Add(killGrace))
		}
		if lost && !exited {
			until(now.Add(lostProbe))
		}
		ms := -1
		if wait >= 0 {
			ms = int((wait + time.Millisecond - 1) / time.Millisecond)
		}
		pfds, idx = pfds[:0], idx[:0]
		pfds = append(pfds, unix.PollFd{Fd: int32(s.c.wakeFD), Events: unix.POLLIN})
		idx = append(idx, -1)
		for i := 1; i < 4; i++ {
			if fd := s.p.goEnd[i]; fd >= 0 {
				pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
				idx = append(idx, i)
			}
		}
		if fd := s.p.goEnd[0]; fd >= 0 && pid != 0 {
			if s.writeReq() {
				pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
				idx = append(idx, 0)
			}
		}
		n, err := unix.Poll(pfds, ms)
		if err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("pyrun: poll: %w", err)
		}
		if n <= 0 {
			continue
		}
		var ready [4]bool
		for i, pf := range pfds {
			if pf.Revents == 0 {
				continue
			}
			if idx[i] < 0 {
				var b [8]byte
				_, _ = unix.Read(s.c.wakeFD, b[:])
				continue
			}
			ready[idx[i]] = true
		}
		if ready[3] {
			// Bounded, so that a block flooding its output still has its
			// deadline and cancellation checked between reads.
			s.readAnswer(answerReadsPerPoll)
		}
		for i := 1; i <= 2; i++ {
			if ready[i] {
				s.readRaw(i)
			}
		}
		if ready[0] {
			s.writeReq()
		}
	}
	s.p.closeAll()
	if !exited && !exiting && pid != 0 {
		killTree(pid)
	}

	if s.gotDone {
		return decodeAnswer(s.done)
	}
	switch reason {
	case stopCancel:
		return nil, fmt.Errorf("python block cancelled: %w", ctx.Err())
	case stopTimeout:
		return nil, fmt.Errorf("%w after %v", ErrTimeout, timeout)
	case stopProto:
		return nil, s.protoErr
	}
	if exited && !lost {
		if status.Signaled() {
			return nil, &ExitError{Signal: status.Signal()}
		}
		return nil, &ExitError{Status: status.ExitStatus()}
	}
	return nil, &ExitError{Unknown: true}
}

// writeReq writes what it can of the request; it reports whether some is
// left to write.
func (s *session) writeReq() bool {
	fd := s.p.goEnd[0]
	if fd < 0 {
		return false
	}
	for len(s.req) > 0 {
		n, err := unix.Write(fd, s.req)
		if n > 0 {
			s.req = s.req[n:]
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if err != nil {
			break // EPIPE: the child is gone; its exit says why
		}
	}
	s.closeReq()
	return false
}

func (s *session) closeReq() {
	if fd := s.p.goEnd[0]; fd >= 0 {
		unix.Close(fd)
		s.p.goEnd[0] = -1
		s.req = nil
	}
}

// answerReadsPerPoll bounds the reads of the answer pipe between two
// checks of the block's deadline.
const answerReadsPerPoll = 8

// readAnswer reads what the answer pipe holds now, at most max reads (0:
// until it is empty), and handles its frames.
func (s *session) readAnswer(max int) {
	fd := s.p.goEnd[3]
	for reads := 0; fd >= 0 && (max == 0 || reads < max); reads++ {
		n, err := unix.Read(fd, s.buf)
		if n > 0 {
			s.frames = append(s.frames, s.buf[:n]...)
			s.parseFrames()
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		// EOF or error.
		unix.Close(fd)
		s.p.goEnd[3] = -1
		return
	}
}

func (s *session) parseFrames() {
	off := 0
	for len(s.frames)-off >= 5 {
		kind := s.frames[off]
		size := binary.BigEndian.Uint32(s.frames[off+1 : off+5])
		if size > maxFrame {
			s.protoErr = fmt.Errorf("pyrun: answer frame of %d bytes is too large", size)
			off = len(s.frames)
			break
		}
		if len(s.frames)-off-5 < int(size) {
			break
		}
		payload := s.frames[off+5 : off+5+int(size)]
		off += 5 + int(size)
		switch kind {
		case 'o':
			s.h.Output(Stdout, payload)
		case 'e':
			s.h.Output(Stderr, payload)
		case 'm':
			s.h.Mask(string(payload))
		case 'd':
			if !s.gotDone {
				s.gotDone = true
				s.done = bytes.Clone(payload)
			}
		default:
			s.protoErr = fmt.Errorf("pyrun: unknown answer frame %q", kind)
			off = len(s.frames)
		}
	}
	if off == len(s.frames) {
		s.frames = s.frames[:0]
	} else if off > 0 {
		s.frames = append(s.frames[:0], s.frames[off:]...)
	}
}

// readRaw reads once from the raw stdout (1) or stderr (2) pipe. Before
// delivering the bytes it drains the answer pipe: any mask written before
// these bytes is then delivered first.
func (s *session) readRaw(i int) {
	fd := s.p.goEnd[i]
	for {
		n, err := unix.Read(fd, s.buf)
		if n > 0 {
			data := bytes.Clone(s.buf[:n])
			// All of it: a mask written before these bytes must reach the
			// handler first.
			s.readAnswer(0)
			stream := Stdout
			if i == 2 {
				stream = Stderr
			}
			s.h.Output(stream, data)
			return
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		unix.Close(fd)
		s.p.goEnd[i] = -1
		return
	}
}

// answer is the done frame.
type answer struct {
	Fatal    string          `json:"fatal"`
	HasValue bool            `json:"has_value"`
	Value    json.RawMessage `json:"value"`
	State    json.RawMessage `json:"state"`
	Masks    []string        `json:"masks"`
	Error    *ScriptError    `json:"error"`
}

func decodeAnswer(data []byte) (*Response, error) {
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("pyrun: bad answer from python: %w", err)
	}
	if a.Fatal != "" {
		return nil, &answerError{msg: a.Fatal}
	}
	resp := &Response{HasValue: a.HasValue, Masks: a.Masks, Error: a.Error}
	if a.HasValue && len(a.Value) > 0 {
		v, err := decodeValue(a.Value)
		if err != nil {
			return nil, err
		}
		resp.Value = v
	}
	if len(a.State) > 0 && string(a.State) != "null" {
		v, err := decodeValue(a.State)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("pyrun: state in answer is not an object")
		}
		resp.State = m
	}
	return resp, nil
}

// decodeValue decodes JSON keeping integers as int64 (json.Number when
// they do not fit) and other numbers as float64.
func decodeValue(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("pyrun: bad value in answer: %w", err)
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
			return x
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
		return x
	}
	return v
}
