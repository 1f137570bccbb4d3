package openbao_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/openbao"
)

const token = "s.bao-T0ken-7f3e"

// kvServer speaks OpenBao's KV v2 read API for one secret at
// /v1/secret/data/bp.
type kvServer struct {
	mu    sync.Mutex
	data  map[string]any
	reads atomic.Int32
}

func newKV(t *testing.T, data map[string]any) (*kvServer, *httptest.Server) {
	kv := &kvServer{data: data}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Vault-Token") != token {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors": ["permission denied"]}`)
			return
		}
		if r.Method != "GET" || r.URL.Path != "/v1/secret/data/bp" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors": []}`)
			return
		}
		kv.reads.Add(1)
		kv.mu.Lock()
		defer kv.mu.Unlock()
		var pairs []string
		for k, v := range kv.data {
			switch v := v.(type) {
			case string:
				pairs = append(pairs, fmt.Sprintf("%q: %q", k, v))
			default:
				pairs = append(pairs, fmt.Sprintf("%q: %v", k, v))
			}
		}
		fmt.Fprintf(w, `{"data": {"data": {%s}, "metadata": {"version": 3, "created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": false}}}`, strings.Join(pairs, ", "))
	}))
	t.Cleanup(srv.Close)
	return kv, srv
}

func source(t *testing.T, srv *httptest.Server, path, tok string, ttl time.Duration) *openbao.Source {
	t.Helper()
	s, err := openbao.New(openbao.Config{URL: "openbao+http://" + strings.TrimPrefix(srv.URL, "http://") + path, Token: tok, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSourceReadsKVv2AndCachesAcrossRuns(t *testing.T) {
	kv, srv := newKV(t, map[string]any{"API_KEY": "k-1", "DB_PASS": "p-1"})
	s := source(t, srv, "/secret/bp", token, time.Hour)
	ctx := context.Background()
	names, err := s.SecretNames(ctx)
	if err != nil || fmt.Sprint(names) != "[API_KEY DB_PASS]" {
		t.Fatalf("names %v, %v", names, err)
	}
	var wg sync.WaitGroup
	for range 20 { // runs at once share one read
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := s.Secret(ctx, "API_KEY"); err != nil || v != "k-1" {
				t.Errorf("API_KEY = %q, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := kv.reads.Load(); n != 1 {
		t.Errorf("%d reads within the TTL, want 1", n)
	}
	if _, err := s.Secret(ctx, "NOPE"); !errors.Is(err, engine.ErrSecretNotFound) {
		t.Errorf("a missing name: %v", err)
	}

	fresh := source(t, srv, "/secret/bp", token, -1)
	kv.mu.Lock()
	kv.data["API_KEY"] = "k-2"
	kv.mu.Unlock()
	if v, _ := fresh.Secret(ctx, "API_KEY"); v != "k-2" {
		t.Errorf("without a cache, API_KEY = %q", v)
	}
	if v, _ := s.Secret(ctx, "API_KEY"); v != "k-1" {
		t.Errorf("within the TTL, API_KEY = %q (read again)", v)
	}
}

func TestSourceErrorsNameTheSecretNotTheToken(t *testing.T) {
	_, srv := newKV(t, map[string]any{"N": 3})
	ctx := context.Background()
	for _, c := range []struct {
		path, tok, want string
	}{
		{"/secret/bp", "wrong-" + token, "permission denied"},
		{"/secret/other", token, "secret/other"},
		{"/secret/bp", token, "key N is not text"},
	} {
		_, err := source(t, srv, c.path, c.tok, 0).Secret(ctx, "N")
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), token) {
			t.Errorf("%s: %v", c.path, err)
		}
	}
	for _, bad := range []string{"https://h/secret/bp", "openbao://user:pw@h/secret/bp", "openbao://h/secret", "openbao:///secret/bp"} {
		if _, err := openbao.New(openbao.Config{URL: bad, Token: token}); err == nil || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := openbao.New(openbao.Config{URL: "openbao://h/secret/bp"}); err == nil {
		t.Error("no token accepted")
	}
}
