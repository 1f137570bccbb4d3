package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/server"
	"github.com/bprun/bp/vault"
)

// fixture is a real server: blueprints in a temporary directory, a real
// vault file, a real history file, a real runner, over HTTP.
type fixture struct {
	t         testing.TB
	url       string
	api       *server.Server
	token     string
	vaultPath string
	dir       string // the blueprint files
	key       vault.MasterKey
	history   *runner.BoltHistory
	log       *syncBuffer

	mu      sync.Mutex
	answers []string // every answer's headers and body (not the request), for leak checks
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// watchFixtureDir, as Options.WatchDir, watches the fixture's blueprint
// directory.
const watchFixtureDir = "(the fixture's directory)"

// newFixture serves the blueprint files given by name; edit changes the
// server's options before it starts.
func newFixture(t testing.TB, files map[string]string, edit func(*server.Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := blueprints.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := blocks.Default(blocks.Options{})
	t.Cleanup(func() { reg.Close() })
	lib := runner.NewLibrary(set, reg)

	f := &fixture{t: t, vaultPath: filepath.Join(t.TempDir(), "vault.db"), key: vault.GenerateMasterKey(), log: &syncBuffer{}}
	v, err := vault.Create(f.vaultPath, f.key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	f.history, err = runner.OpenBoltHistory(filepath.Join(t.TempDir(), "history.db"), runner.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	openRO := func() (*vault.Vault, error) {
		return vault.Open(f.vaultPath, f.key, vault.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
	}
	opts := server.Options{
		History: f.history,
		OpenVaultRW: func() (*vault.Vault, error) {
			return vault.Open(f.vaultPath, f.key, vault.Options{LockTimeout: 300 * time.Millisecond})
		},
		OpenVault: openRO,
		Logger:    slog.New(slog.NewTextHandler(f.log, nil)),
	}
	opts.LoadBlueprints = func() (*blueprints.Set, error) { return blueprints.Load(dir) }
	if edit != nil {
		edit(&opts)
	}
	if opts.WatchDir == watchFixtureDir {
		opts.WatchDir = dir
	}
	f.dir = dir
	// The runner records runs in the store the server reads.
	opts.Runner = runner.New(runner.Options{Library: lib, OpenVault: opts.OpenVault, History: opts.History})
	f.token = opts.Token
	f.api = server.New(opts)
	// The server as bp serve runs it: its own http.Server, with its
	// connection cap and deadlines.
	srv := httptest.NewUnstartedServer(f.api)
	srv.Config = f.api.HTTPServer()
	srv.Listener = f.api.Listener(srv.Listener)
	srv.Start()
	f.url = srv.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.api.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
		if err := f.history.Close(); err != nil {
			t.Errorf("closing the history: %v", err)
		}
	})
	return f
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

// do sends a request with the fixture's token, if any.
func (f *fixture) do(method, path, body string) answer {
	f.t.Helper()
	return f.doWith(method, path, body, func(r *http.Request) {
		if f.token != "" {
			r.Header.Set("Authorization", "Bearer "+f.token)
		}
	})
}

func (f *fixture) doWith(method, path, body string, edit func(*http.Request)) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	var hdr strings.Builder
	_ = resp.Header.Write(&hdr)
	f.mu.Lock()
	f.answers = append(f.answers, hdr.String()+"\n"+a.body)
	f.mu.Unlock()
	return a
}

func (f *fixture) expect(a answer, status int) answer {
	f.t.Helper()
	if a.status != status {
		f.t.Fatalf("status %d, want %d:\n%s", a.status, status, a.body)
	}
	return a
}

// sseEvent is one server-sent event.
type sseEvent struct {
	kind string
	data map[string]any
}

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, frame := range strings.Split(body, "\n\n") {
		var e sseEvent
		var data string
		for _, line := range strings.Split(frame, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				e.kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
		if e.kind == "" {
			continue
		}
		if err := json.Unmarshal([]byte(data), &e.data); err != nil {
			t.Fatalf("event %s: data is not JSON: %v\n%s", e.kind, err, data)
		}
		out = append(out, e)
	}
	return out
}

// waitRun polls a run until it is no longer running.
func (f *fixture) waitRun(id string) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(f.t)
		if m["status"] != "running" {
			return m
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("run %s still running", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gate is an HTTP server whose answers wait until it is opened: a run
// that calls it stays in progress for as long as the test wants.
type gate struct {
	url    string
	open   chan struct{}
	once   sync.Once
	called chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{open: make(chan struct{}), called: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.called <- struct{}{}
		select {
		case <-g.open:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, `{"ok": true}`)
	}))
	t.Cleanup(func() {
		g.release()
		srv.Close()
	})
	g.url = srv.URL
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }
