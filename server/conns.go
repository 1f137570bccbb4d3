package server

import (
	"context"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// conns bounds the open connections. Within MaxConns a connection is
// served; past it, the oldest connection that is not serving a request
// (idle between requests, or still sending its first request's headers:
// a slow client) is closed to make room; with none to close, the new one
// is an overflow connection, which answers /healthz and 503 to anything
// else, one request each, up to maxOverflow of them; past that, Listener
// accepts nothing until a connection closes (new ones wait in the
// kernel's queue). So file descriptors stay bounded, slow clients cannot
// hold them all, and /healthz answers.
type conns struct {
	max, maxOverflow int
	metrics          *metrics

	mu       sync.Mutex
	room     *sync.Cond            // signalled when a connection closes
	all      map[net.Conn]*tracked // every connection open
	served   int                   // of them, those within max
	overflow int                   // of them, the overflow ones
	stopped  bool                  // the listener is closed
}

// tracked is one accepted connection.
type tracked struct {
	conn     net.Conn
	overflow bool // beyond MaxConns: /healthz only
	state    http.ConnState
	since    time.Time // when it entered state
}

func newConns(max int, m *metrics) *conns {
	c := &conns{max: max, maxOverflow: max/4 + 16, metrics: m, all: map[net.Conn]*tracked{}}
	c.room = sync.NewCond(&c.mu)
	return c
}

type connKey struct{}

// accept decides a new connection's fate (http.Server.ConnContext).
func (c *conns) accept(ctx context.Context, conn net.Conn) context.Context {
	t := &tracked{conn: conn, state: http.StateNew, since: time.Now()}
	c.mu.Lock()
	if c.served < c.max || c.evictLocked() {
		c.served++
	} else {
		// Listener keeps the overflow bounded.
		t.overflow = true
		c.overflow++
		c.metrics.connsRefused.Inc()
	}
	c.all[conn] = t
	c.metrics.connections.Set(float64(c.served + c.overflow))
	c.mu.Unlock()
	return context.WithValue(ctx, connKey{}, t)
}

// evictLocked closes the oldest served connection that is not serving a
// request, and forgets it: its place is free at once. A connection that
// has not sent its first request is one only once it had slowHeaders to
// send it: one accepted a moment ago may just not have been read yet.
func (c *conns) evictLocked() bool {
	var victim *tracked
	now := time.Now()
	for _, t := range c.all {
		evictable := t.state == http.StateIdle || t.state == http.StateNew && now.Sub(t.since) > slowHeaders
		if !t.overflow && evictable && (victim == nil || t.since.Before(victim.since)) {
			victim = t
		}
	}
	if victim == nil {
		return false
	}
	c.forgetLocked(victim)
	_ = victim.conn.Close()
	return true
}

func (c *conns) forgetLocked(t *tracked) {
	c.room.Signal()
	delete(c.all, t.conn)
	if t.overflow {
		c.overflow--
	} else {
		c.served--
	}
}

// changed follows a connection's state (http.Server.ConnState).
func (c *conns) changed(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.all[conn]
	if t == nil {
		return // closed at accept, or evicted
	}
	if state == http.StateClosed || state == http.StateHijacked {
		c.forgetLocked(t)
		c.metrics.connections.Set(float64(c.served + c.overflow))
		return
	}
	t.state, t.since = state, time.Now()
}

// overflowOnly answers the requests of an overflow connection: /healthz,
// else 503; either way the connection closes after the answer.
func (s *Server) overflowOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := r.Context().Value(connKey{}).(*tracked)
		if t == nil || !t.overflow {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		s.refuseBody(w, r)
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, "too many open connections; try again later")
	})
}

// Listener bounds the connections ln accepts to MaxConns and the
// overflow: serve HTTPServer on it. When they are all open, it makes room
// by closing an idle or slow one, else accepts nothing until one closes
// (new connections wait in the kernel's queue).
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, c: s.conns}
}

type limitListener struct {
	net.Listener
	c *conns
}

func (l *limitListener) Accept() (net.Conn, error) {
	c := l.c
	c.mu.Lock()
	for len(c.all) >= c.max+c.maxOverflow && !c.evictLocked() && !c.stopped {
		c.room.Wait()
	}
	c.mu.Unlock()
	return l.Listener.Accept()
}

func (l *limitListener) Close() error {
	l.c.mu.Lock()
	l.c.stopped = true
	l.c.room.Broadcast()
	l.c.mu.Unlock()
	return l.Listener.Close()
}

// HTTPServer is an http.Server for this API, to serve on Listener, with
// its bounds: the connection cap (Options.MaxConns), deadlines for a
// request's headers (Options.HeaderTimeout) and for idle connections, a
// bound on header size, and the server's scrubbed log for net/http's own
// errors. Body and answer deadlines are set per request by the handler.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opts.HeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       s.conns.accept,
		ConnState:         s.conns.changed,
		ErrorLog:          log.New(slogWriter{s.log}, "", 0),
	}
}

const (
	// slowHeaders is how long a connection may take to send its first
	// request's headers before, at the cap, it makes room for another.
	slowHeaders    = time.Second
	idleTimeout    = time.Minute
	maxHeaderBytes = 64 << 10
)

// slogWriter turns net/http's log lines into warnings.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("http server", slog.String("error", string(p)))
	return len(p), nil
}
