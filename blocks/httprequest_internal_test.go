package blocks

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestHTTPParseSize(t *testing.T) {
	for in, want := range map[any]int64{
		1024: 1024, 2048.0: 2048, "512": 512, "1KiB": 1024, "1 kib": 1024, "10MiB": 10 << 20,
		"5MB": 5e6, "1.5KiB": 1536, "2k": 2000, "1GiB": 1 << 30, "7B": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%v) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"", "lots", "1TiB?", "-1", 0, -5, "0", true, "1e400"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%v) = %d, want an error", in, n)
		}
	}
}

func TestHTTPRetryWait(t *testing.T) {
	p := retryPolicy{attempts: 10, backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	fail := &httpAttempt{err: errors.New("refused"), retryable: true}
	for attempt, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for i := 0; i < 50; i++ {
			d, ok := p.wait(attempt, fail, 30*time.Second)
			if !ok || d < full/2 || d > full {
				t.Fatalf("attempt %d: wait %s, want between %s and %s", attempt, d, full/2, full)
			}
		}
	}
	busy := func(code int, ra string) *httpAttempt {
		return &httpAttempt{status: code, header: http.Header{"Retry-After": {ra}}}
	}
	if d, ok := p.wait(1, busy(429, "2"), 30*time.Second); !ok || d != 2*time.Second {
		t.Errorf("Retry-After 2 on 429: %s %v", d, ok)
	}
	if d, ok := p.wait(1, busy(503, time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat)), 30*time.Second); !ok || d < time.Second || d > 3*time.Second {
		t.Errorf("Retry-After date on 503: %s %v", d, ok)
	}
	if _, ok := p.wait(1, busy(429, "3600"), 30*time.Second); ok {
		t.Error("Retry-After 3600 accepted")
	}
	if d, ok := p.wait(1, busy(500, "5"), 30*time.Second); !ok || d > 100*time.Millisecond {
		t.Errorf("Retry-After on 500 honoured: %s", d)
	}
	if d, ok := p.wait(1, busy(429, "soon"), 30*time.Second); !ok || d > 100*time.Millisecond {
		t.Errorf("bad Retry-After: %s", d)
	}
	zero := retryPolicy{attempts: 3}
	if d, ok := zero.wait(2, fail, time.Second); !ok || d != 0 {
		t.Errorf("zero backoff: %s", d)
	}
}

func TestHTTPRetryAllows(t *testing.T) {
	p := retryPolicy{attempts: 3}
	for _, tc := range []struct {
		method string
		at     httpAttempt
		want   bool
	}{
		{"GET", httpAttempt{status: 503}, true},
		{"GET", httpAttempt{status: 429}, true},
		{"GET", httpAttempt{status: 500}, true},
		{"GET", httpAttempt{status: 404}, false},
		{"GET", httpAttempt{status: 200}, false},
		{"GET", httpAttempt{err: errors.New("x"), retryable: true}, true},
		{"GET", httpAttempt{err: errors.New("too large")}, false},
		{"DELETE", httpAttempt{status: 502}, true},
		{"POST", httpAttempt{status: 502}, false},
		{"PATCH", httpAttempt{err: errors.New("x"), retryable: true}, false},
	} {
		if got := p.allows(tc.method, &tc.at); got != tc.want {
			t.Errorf("%s %+v: %v", tc.method, tc.at, got)
		}
	}
}

func TestHTTPLookupPath(t *testing.T) {
	v := map[string]any{
		"body":    map[string]any{"a.b": "dotted", "list": []any{"x", map[string]any{"t": "y"}}},
		"headers": map[string]any{"X-Token": "h"},
	}
	for path, want := range map[string]any{
		"body.list.1.t": "y", `body.a\.b`: "dotted", "headers.x-token": "h", "body.list.0": "x",
	} {
		if got, ok := lookupPath(v, path); !ok || got != want {
			t.Errorf("%s: %v %v", path, got, ok)
		}
	}
	for _, path := range []string{"", "body.nope", "body.list.2", "body.list.x", "headers.X-Token.more"} {
		if got, ok := lookupPath(v, path); ok {
			t.Errorf("%s: found %v", path, got)
		}
	}
}
