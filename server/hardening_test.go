package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/server"
)

// rawConn is a client that writes what it wants, when it wants.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func (f *fixture) dial(t *testing.T) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// answer reads one answer, waiting at most 10s for it.
func (c *rawConn) answer() *http.Response {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("no answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closes the connection within
// 10s (a read that ends, rather than one that times out on our side).
func (c *rawConn) closedByServer() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestUnauthenticatedBodiesAreNotRead: a request without the token, that
// declares a body and sends it slowly, is answered 401 from its headers
// and its connection closed, without waiting for the body.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	f := newFixture(t, basicFiles(), withToken)
	for _, auth := range []string{"", "Authorization: Bearer wrong\r\n"} {
		c := f.dial(t)
		fmt.Fprintf(c.conn, "POST /v1/blueprints/hello/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 100000\r\n\r\n{", auth)
		if resp := c.answer(); resp.StatusCode != 401 || !resp.Close {
			t.Errorf("%q: %d, close %v", auth, resp.StatusCode, resp.Close)
		}
		if !c.closedByServer() {
			t.Errorf("%q: the connection is held open for the rest of the body", auth)
		}
	}
}

// TestABodyMustArriveInTime: an authenticated client that stops sending
// its payload gets 408 once BodyTimeout passed, and the connection closes.
func TestABodyMustArriveInTime(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) {
		o.Token = testToken
		o.BodyTimeout = 200 * time.Millisecond
	})
	c := f.dial(t)
	fmt.Fprintf(c.conn, "POST /v1/blueprints/hello/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"na", testToken)
	if resp := c.answer(); resp.StatusCode != 408 {
		t.Errorf("a stalled body: %d", resp.StatusCode)
	}
	if !c.closedByServer() {
		t.Error("the connection stays open after 408")
	}
	// The slot it held is free: a run starts.
	f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200)
}

// TestSlowBodiesWithoutTokenDoNotHoldTheServer: many connections without
// the token trickle bodies; each is answered and closed at once, and
// /healthz answers throughout. (The load test does it with 5,000.)
func TestSlowBodiesWithoutTokenDoNotHoldTheServer(t *testing.T) {
	f := newFixture(t, basicFiles(), withToken)
	const n = 200
	var wg sync.WaitGroup
	closed := make(chan bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
			if err != nil {
				closed <- false
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v1/vault/X HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nab")
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn) // the answer, then the server's close
			closed <- err == nil
		}()
	}
	for i := 0; i < 5; i++ {
		f.expect(f.doWith("GET", "/healthz", "", nil), 200)
	}
	wg.Wait()
	close(closed)
	held := 0
	for ok := range closed {
		if !ok {
			held++
		}
	}
	if held > 0 {
		t.Errorf("%d of %d connections were not closed by the server", held, n)
	}
}

// TestTheConnectionCapKeepsHealthzAnswering: at the cap, the oldest
// connection that has not sent a request makes room; with every
// connection busy, /healthz still answers and the rest get 503.
func TestTheConnectionCapKeepsHealthzAnswering(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxConns, o.HeaderTimeout = 3, time.Minute })
	// Three connections idle between requests (keep-alive).
	var idle []*rawConn
	for i := 0; i < 3; i++ {
		c := f.dial(t)
		fmt.Fprintf(c.conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if resp := c.answer(); resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
		}
		idle = append(idle, c)
		time.Sleep(5 * time.Millisecond) // distinct ages
	}
	// A fourth: the oldest idle one is closed for it.
	c := f.dial(t)
	fmt.Fprintf(c.conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp := c.answer(); resp.StatusCode != 200 || resp.Close {
		t.Errorf("healthz at the cap: %d, close %v; want it served like any other", resp.StatusCode, resp.Close)
	}
	if !idle[0].closedByServer() {
		t.Error("the oldest idle connection was not closed to make room")
	}

	// Now three connections busy with runs that wait at a gate.
	g := newGate(t)
	busy := make(chan answer, 3)
	for i := 0; i < 3; i++ {
		go func() {
			busy <- f.do("POST", "/v1/blueprints/waiting/runs?wait=1", `{"url": "`+g.url+`"}`)
		}()
		<-g.called
	}
	over := f.dial(t)
	fmt.Fprintf(over.conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp := over.answer(); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("healthz beyond the cap: %d, close %v", resp.StatusCode, resp.Close)
	}
	other := f.dial(t)
	fmt.Fprintf(other.conn, "GET /v1/blueprints HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp := other.answer(); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("an API request beyond the cap: %d %v", resp.StatusCode, resp.Header)
	}
	g.release()
	for i := 0; i < 3; i++ {
		f.expect(<-busy, 200)
	}
}

// TestAnswersDoNotEchoLongInput: a 10 KB run id, blueprint key or method
// comes back, in the answer and the log, as a short prefix; a 404 names no
// blueprint.
func TestAnswersDoNotEchoLongInput(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	long := strings.Repeat("A", 10000)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/runs/" + long},
		{"POST", "/v1/blueprints/" + long + "/runs"},
		{long, "/v1/blueprints"},
		{"POST", "/v1/blueprints/hello/runs?trigger=" + long},
	} {
		a := f.do(c.method, c.path, "")
		if a.status < 400 || len(a.body) > 1000 {
			t.Errorf("%.20s %.40s: %d, %d bytes: %.300s", c.method, c.path, a.status, len(a.body), a.body)
		}
	}
	if a := f.expect(f.do("POST", "/v1/blueprints/nosuch/runs", ""), 404); strings.Contains(a.body, "hello") || strings.Contains(a.body, "waiting") {
		t.Errorf("the 404 lists the blueprints: %s", a.body)
	}
	for _, line := range strings.Split(f.log.String(), "\n") {
		if len(line) > 1000 {
			t.Errorf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
}

// TestSlowHeadersMakeRoomAtTheCap: connections that sent nothing for
// longer than a slow client may take make room for new ones at the cap;
// one accepted a moment ago does not.
func TestSlowHeadersMakeRoomAtTheCap(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxConns, o.HeaderTimeout = 2, time.Minute })
	first := f.dial(t)
	time.Sleep(1200 * time.Millisecond) // past slowHeaders (1s)
	second := f.dial(t)
	// At the cap: the first, silent for more than a second, makes room;
	// the second, silent for a moment only, stays.
	c := f.dial(t)
	fmt.Fprintf(c.conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp := c.answer(); resp.StatusCode != 200 || resp.Close {
		t.Errorf("healthz: %d, close %v; want it served like any other", resp.StatusCode, resp.Close)
	}
	if !first.closedByServer() {
		t.Error("the slow connection was not closed to make room")
	}
	fmt.Fprintf(second.conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp := second.answer(); resp.StatusCode != 200 {
		t.Errorf("the young silent connection: %d", resp.StatusCode)
	}
}
