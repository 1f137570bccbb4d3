// Package server is bp's HTTP API: start runs, follow
// them as server-sent events, read their results and events, list the
// blueprints, and manage the vault, without ever answering a secret value.
//
// Every answer that can hold run data goes through that run's scrubber;
// every other answer goes through a server-wide scrubber that knows the
// values set through the API. Vault endpoints answer names, versions and
// times only.
//
//	h := server.New(server.Options{Runner: r, History: hist, OpenVaultRW: open, Token: token})
//	http.ListenAndServe("127.0.0.1:8080", h)
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"github.com/bprun/bp/blueprints"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// Defaults of Options.
const (
	DefaultMaxRuns          = 16
	DefaultQueue            = 256
	DefaultQueueWait        = 30 * time.Second
	DefaultKeepRuns         = 64
	DefaultMaxBody          = 10 << 20
	DefaultMaxPayloadValues = 100000
	DefaultBodyTimeout      = 30 * time.Second
	DefaultMaxPending       = 10000
	DefaultMaxConns         = 2048
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultStreamIdle       = 30 * time.Second

	DefaultMaxEventBytes = runner.MaxRecordBytes
)

// Options configure a Server. Runner is required; the rest are optional.
type Options struct {
	// Runner runs the blueprints; its OpenVault gives each run a read-only
	// snapshot of the vault.
	Runner *runner.Runner
	// Library lists the blueprints; nil means the Runner's.
	Library *runner.Library
	// History answers for runs no longer in memory: it should be the
	// store the Runner records runs in. A run whose record is saved
	// leaves memory as it ends. Nil means only runs of this process, while
	// they are kept, can be read.
	History runner.HistoryStore
	// OpenVaultRW opens the vault read-write (briefly, for PUT and
	// DELETE /v1/vault/{name}); nil disables those endpoints (503).
	OpenVaultRW func() (*vault.Vault, error)
	// OpenVault opens the vault read-only for GET /v1/vault; nil means
	// OpenVaultRW. A nil vault with a nil error is an empty vault.
	OpenVault func() (*vault.Vault, error)
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every endpoint but /healthz. Without one, the server answers only
	// requests addressed to a loopback host (see CheckListenAddr).
	Token string
	// Logger receives one record per request (method, path, status,
	// duration) and the server's warnings (a run not recorded, a reload
	// that failed), every one scrubbed; nil logs nothing.
	Logger *slog.Logger

	// MaxRuns bounds the runs in progress at once. Zero means
	// DefaultMaxRuns.
	MaxRuns int
	// Queue bounds the requests that wait for a run to end before theirs
	// starts; beyond it they are refused with 429 and Retry-After. Zero
	// means DefaultQueue; -1 means no queue.
	Queue int
	// QueueWait bounds how long a request waits in the queue (a request
	// may ask for less with ?queue_wait=); past it, 503 with Retry-After.
	// Zero means DefaultQueueWait.
	QueueWait time.Duration
	// KeepRuns is how many finished runs that History does not hold stay
	// in memory (the newest). Zero means DefaultKeepRuns.
	KeepRuns int
	// MaxEvents bounds the events kept in memory per run; a run that
	// emits more keeps its first ones and counts the rest. Zero means
	// runner.MaxHistoryEvents.
	MaxEvents int
	// MaxEventBytes bounds the JSON of the events kept in memory per run.
	// Zero means DefaultMaxEventBytes.
	MaxEventBytes int
	// MaxBody bounds a request body (payload). Zero means DefaultMaxBody.
	MaxBody int64
	// MaxPayloadValues bounds the JSON values of a payload (each scalar,
	// array and object), counted before it is decoded, so that a run's
	// memory is bounded by more than the payload's length ("[[],[],...]"
	// costs ten times its size decoded). Zero means
	// DefaultMaxPayloadValues.
	MaxPayloadValues int
	// BodyTimeout bounds the time to receive a request body once the
	// server starts reading it. Zero means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// WriteTimeout bounds the time to write an answer (from the end of
	// the wait in the queue for a run); StreamIdle, the time a write to
	// an event stream may wait for a client that reads nothing. Zero
	// means DefaultWriteTimeout, DefaultStreamIdle.
	WriteTimeout time.Duration
	StreamIdle   time.Duration
	// MaxConns and HeaderTimeout bound the connections of HTTPServer:
	// how many may be open, and how long a request's headers may take.
	// Zero means DefaultMaxConns, DefaultHeaderTimeout.
	MaxConns      int
	HeaderTimeout time.Duration
	// LoadBlueprints loads the blueprints again, for Reload; nil means
	// the library cannot be reloaded.
	LoadBlueprints func() (*blueprints.Set, error)
	// WatchDir, when set with LoadBlueprints, is watched (with its
	// subdirectories): a change there reloads the blueprints.
	WatchDir string
	// Retention, when not zero, is applied to History in the background,
	// every PruneEvery (zero means DefaultPruneEvery), from New until
	// Shutdown.
	Retention  runner.Retention
	PruneEvery time.Duration
	// Remote, when set, runs the server's runs on workers elsewhere (bp
	// serve --nats): runs are queued there, not run here, and History must
	// be the store the workers record in. MaxRuns and Queue do not apply.
	Remote Remote
}

// DefaultPruneEvery is how often the history is pruned to Retention.
const DefaultPruneEvery = time.Minute

// Server is the API, an http.Handler. Call Shutdown to cancel the runs in
// progress when the process stops.
type Server struct {
	opts    Options
	lib     *runner.Library
	handler http.Handler
	scrub   *scrub.Scrubber // values set through the API, for every answer
	token   [32]byte        // sha256 of Options.Token

	ctx     context.Context // parent of every run; cancelled by Shutdown
	cancel  context.CancelFunc
	admit   *admission
	log     *slog.Logger // scrubbed by scrub
	metrics *metrics
	conns   *conns

	mu       sync.Mutex
	closing  bool
	runs     map[string]*run
	finished []string // ids of finished runs in memory, oldest first
	wg       sync.WaitGroup
}

// New makes the API handler. It panics without Options.Runner.
func New(opts Options) *Server {
	if opts.Runner == nil {
		panic("server: Options.Runner is required")
	}
	if opts.Library == nil {
		opts.Library = opts.Runner.Library()
	}
	if opts.OpenVault == nil {
		opts.OpenVault = opts.OpenVaultRW
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = DefaultMaxRuns
	}
	switch {
	case opts.Queue == 0:
		opts.Queue = DefaultQueue
	case opts.Queue < 0:
		opts.Queue = 0
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = DefaultQueueWait
	}
	if opts.MaxPayloadValues <= 0 {
		opts.MaxPayloadValues = DefaultMaxPayloadValues
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.StreamIdle <= 0 {
		opts.StreamIdle = DefaultStreamIdle
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = DefaultHeaderTimeout
	}
	if opts.KeepRuns <= 0 {
		opts.KeepRuns = DefaultKeepRuns
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = runner.MaxHistoryEvents
	}
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = DefaultMaxEventBytes
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:  opts,
		lib:   opts.Library,
		scrub: scrub.New(),
		token: sha256.Sum256([]byte(opts.Token)),
		admit: newAdmission(opts.MaxRuns, opts.Queue),
		runs:  map[string]*run{},
	}
	if opts.Token != "" {
		s.scrub.Add(opts.Token) // no answer ever shows it either
	}
	s.log = slog.New(scrubHandler{next: logger.Handler(), s: s.scrub})
	s.metrics = newMetrics(s.admit)
	s.conns = newConns(opts.MaxConns, s.metrics)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.lib != nil {
		s.metrics.invalid.Set(float64(len(s.lib.Set().Errors)))
	}
	if opts.WatchDir != "" && opts.LoadBlueprints != nil {
		if err := s.watch(s.ctx, opts.WatchDir); err != nil {
			s.warn("not watching the blueprints: changes need a reload (SIGHUP)", slog.String("dir", opts.WatchDir), slog.Any("error", err))
		}
	}
	if opts.History != nil && !opts.Retention.IsZero() {
		if opts.PruneEvery <= 0 {
			opts.PruneEvery = DefaultPruneEvery
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			runner.PruneEvery(s.ctx, opts.History, opts.Retention, opts.PruneEvery, func(n int, err error) {
				if err != nil {
					s.warn("history not pruned", slog.Any("error", err))
				} else {
					s.log.Info("history pruned", slog.Int("forgotten", n))
				}
			})
		}()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("POST /v1/blueprints/{key}/runs", s.postRun)
	mux.HandleFunc("GET /v1/blueprints", s.listBlueprints)
	mux.HandleFunc("GET /v1/runs/{id}", s.getRun)
	mux.HandleFunc("GET /v1/runs/{id}/events", s.getEvents)
	mux.HandleFunc("GET /v1/vault", s.listVault)
	mux.HandleFunc("PUT /v1/vault/{name}", s.putSecret)
	mux.HandleFunc("DELETE /v1/vault/{name}", s.deleteSecret)

	// Browsers must not start runs or change the vault from other sites'
	// pages (a form POST needs no preflight).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuseBody(w, r)
		s.fail(w, http.StatusForbidden, "cross-origin request refused")
	}))
	s.handler = s.observed(s.overflowOnly(cop.Handler(s.guard(jsonMux{mux, s}))))
	return s
}

// jsonMux answers the mux's own errors (no such path, wrong method) as
// JSON, like every other error.
type jsonMux struct {
	mux *http.ServeMux
	s   *Server
}

func (m jsonMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := m.mux.Handler(r)
	if pattern != "" {
		m.mux.ServeHTTP(w, r) // sets the path values
		return
	}
	rec := &headerOnly{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusNotFound
	}
	msg := "no such endpoint"
	if status == http.StatusMethodNotAllowed {
		msg = "method " + echo(r.Method) + " not allowed here"
	}
	m.s.fail(w, status, msg)
}

// headerOnly keeps the status and headers of an answer, not its body.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Shutdown refuses new runs, cancels the runs in progress and waits for
// them to end (their events and results stay readable) or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.admit.close()
	}
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runs still ending: %w", ctx.Err())
	}
}

// guard checks the bearer token, or, without one, that the request was
// addressed to a loopback host: a page on another site that rebinds its
// DNS name to 127.0.0.1 must not reach a server that has no token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if s.opts.Token == "" {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !IsLoopbackHost(host) {
				s.refuseBody(w, r)
				s.fail(w, http.StatusForbidden, "without BP_SERVER_TOKEN the server only answers requests addressed to a loopback host")
				return
			}
			if r.Method != http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/vault/") {
				// Any local user can reach a loopback address: without a
				// token, nobody may change the vault.
				s.refuseBody(w, r)
				s.fail(w, http.StatusForbidden, "this server has no token: the vault cannot be changed through it")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		// The scheme is case-insensitive (RFC 9110); the token is not.
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bp"`)
			// Answered from the headers alone, and the connection closed:
			// a client without the token cannot hold it by sending a body
			// slowly.
			s.refuseBody(w, r)
			s.fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// warn logs a warning, scrubbed.
func (s *Server) warn(msg string, attrs ...slog.Attr) {
	s.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// writeJSON answers v as JSON, scrubbed by sc (a run's scrubber, or nil)
// and by the server's.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any, sc *scrub.Scrubber) {
	b, err := marshal(v)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	s.writeRaw(w, status, b, sc)
}

func (s *Server) writeRaw(w http.ResponseWriter, status int, b []byte, sc *scrub.Scrubber) {
	if sc != nil {
		b = sc.Bytes(b)
	}
	b = s.scrub.Bytes(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorBody is every error answer.
type errorBody struct {
	Error    string    `json:"error"`
	Problems []problem `json:"problems,omitempty"`
}

// fail answers {"error": msg}.
func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	s.failScrubbed(w, status, msg, nil)
}

// failScrubbed answers {"error": msg} masked by a run's scrubber too.
func (s *Server) failScrubbed(w http.ResponseWriter, status int, msg string, sc *scrub.Scrubber) {
	s.writeJSON(w, status, errorBody{Error: s.clean(sc, msg)}, sc)
}

// clean masks text with a run's scrubber (when not nil) and the
// server's, before it is encoded: a secret quoted inside a message (Go's
// %q) and then JSON-escaped is a form no byte-level pass would know.
func (s *Server) clean(sc *scrub.Scrubber, text string) string {
	if sc != nil {
		text = sc.String(text)
	}
	return s.scrub.String(text)
}

// marshal is json.Marshal without HTML escaping, so that text reads as
// the run wrote it.
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
