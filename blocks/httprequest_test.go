package blocks_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
)

type hf = map[string]any

// ret is a returnvalue block "ret" returning value.
func httpRet(value string) *engine.BlockSpec {
	return httpBlk("ret", "returnvalue", hf{"value": value})
}

func TestHTTPSuccessResultShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("q") != "Paris" || r.Header.Get("X-City") != "Paris" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		fmt.Fprint(w, `{"temp": 21.5, "city": "Paris"}`)
	}))
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{
		"url":     srv.URL + "/weather?q=@{payload.city}",
		"headers": hf{"X-City": "@{payload.city}"},
	}, []string{"success>ret"}, httpRet("@{result.body.temp}"))
	res, log := env.run(t, bp, engine.RunOptions{Payload: hf{"city": "Paris"}})
	if res.Status != engine.StatusReturned || res.Return != 21.5 {
		t.Fatalf("run %s, return %v, err %v", res.Status, res.Return, res.Err)
	}
	ev := log.finished(t, "call")
	if ev.Outcome != "success" {
		t.Fatalf("outcome %s", ev.Outcome)
	}
	m := httpResult(t, ev)
	if m["status_code"] != 200 {
		t.Errorf("status_code %v", m["status_code"])
	}
	if !reflect.DeepEqual(m["body"], map[string]any{"temp": 21.5, "city": "Paris"}) {
		t.Errorf("body %#v", m["body"])
	}
	h := m["headers"].(map[string]any)
	if h["X-Multi"] != "a, b" || !strings.HasPrefix(h["Content-Type"].(string), "application/json") {
		t.Errorf("headers %v", h)
	}
	req := m["request"].(map[string]any)
	if req["url"] != srv.URL+"/weather?q=Paris" || req["method"] != "GET" || req["body"] != nil {
		t.Errorf("request %v", req)
	}
	if rh := req["headers"].(map[string]any); rh["X-City"] != "Paris" {
		t.Errorf("request headers %v", rh)
	}
}

func TestHTTPResponseErrorRouted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{"url": srv.URL + "/missing"}, []string{"success>ok", "responseError>ret"},
		httpBlk("ok", "returnvalue", hf{"value": "ok"}),
		httpRet("@{message} / @{result.status_code} / @{result.body}"))
	res, log := env.run(t, bp, engine.RunOptions{})
	if res.Status != engine.StatusReturned {
		t.Fatalf("run %s: %v", res.Status, res.Err)
	}
	if want := "HTTP 404 Not Found / 404 / 404 page not found\n"; res.Return != want {
		t.Errorf("return %q, want %q", res.Return, want)
	}
	if ev := log.finished(t, "call"); ev.Outcome != "responseError" || ev.Status != engine.StatusFailed {
		t.Errorf("outcome %s status %s", ev.Outcome, ev.Status)
	}
}

// refusedURL is a loopback URL where nothing listens.
func httpRefusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/x"
}

func TestHTTPConnectionRefused(t *testing.T) {
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{"url": httpRefusedURL(t)}, []string{"connectionError>ret"}, httpRet("@{message}"))
	res, log := env.run(t, bp, engine.RunOptions{})
	if res.Status != engine.StatusReturned {
		t.Fatalf("run %s: %v", res.Status, res.Err)
	}
	if msg, _ := res.Return.(string); !strings.Contains(msg, "connection refused") {
		t.Errorf("message %q", res.Return)
	}
	if ev := log.finished(t, "call"); ev.Outcome != "connectionError" {
		t.Errorf("outcome %s", ev.Outcome)
	}
}

func TestHTTPUnroutedErrorFailsRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	for name, url := range map[string]string{"responseError": srv.URL, "connectionError": httpRefusedURL(t)} {
		t.Run(name, func(t *testing.T) {
			bp := httpBP(hf{"url": url}, []string{"success>ret"}, httpRet("no"))
			res, _ := env.run(t, bp, engine.RunOptions{})
			if res.Status != engine.StatusFailed {
				t.Fatalf("run %s, want failed", res.Status)
			}
			msg := res.Err.Error()
			if !strings.Contains(msg, "block call (httprequest) ended with "+name) {
				t.Errorf("error %q", msg)
			}
			if name == "responseError" && !strings.Contains(msg, "HTTP 500 Internal Server Error") {
				t.Errorf("error %q", msg)
			}
		})
	}
}

func TestHTTPBadFieldsAreErrors(t *testing.T) {
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	for name, fields := range map[string]hf{
		"relative url": {"url": "/just/a/path"},
		"ftp url":      {"url": "ftp://example.com/x"},
		// Templated: a constant bad method, bodyType, size, headers or
		// retry is refused at load (see the validate tests).
		"bad method":        {"url": "http://127.0.0.1:1/", "method": "@{payload.method}"},
		"bad json body":     {"url": "http://127.0.0.1:1/", "method": "POST", "bodyType": "JSON", "body": "{not json"},
		"bad bodyType":      {"url": "http://127.0.0.1:1/", "bodyType": "@{payload.bodyType}"},
		"bad headers":       {"url": "http://127.0.0.1:1/", "headers": "@{payload.headers}"},
		"bad header name":   {"url": "http://127.0.0.1:1/", "headers": hf{"X Y": "1"}},
		"header line break": {"url": "http://127.0.0.1:1/", "headers": hf{"X-Y": "a\r\nEvil: 1"}},
		"bad retry":         {"url": "http://127.0.0.1:1/", "retry": "@{payload.retry}"},
		"bad size":          {"url": "http://127.0.0.1:1/", "maxResponseBytes": "@{payload.size}"},
		"missing path":      {"url": "http://127.0.0.1:1/@{payload.nope}"},
	} {
		t.Run(name, func(t *testing.T) {
			bp := httpBP(fields, []string{"success>ret"}, httpRet("no"))
			res, log := env.run(t, bp, engine.RunOptions{Payload: hf{"x": 1, "method": "GE T", "bodyType": "xml", "size": "lots", "headers": []any{"a"}, "retry": hf{"tries": 3}}})
			if res.Status != engine.StatusFailed {
				t.Fatalf("run %s, want failed", res.Status)
			}
			if ev := log.finished(t, "call"); ev.Outcome != "error" {
				t.Errorf("outcome %s: %s", ev.Outcome, ev.Message)
			}
		})
	}
}

// countingServer answers with the statuses in turn (the last one for
// every later request) and counts requests.
func httpCountingServer(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		code := statuses[min(i, len(statuses)-1)]
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3600")
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "attempt %d", i+1)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestHTTPRetry(t *testing.T) {
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	retry := hf{"attempts": 3, "backoff": "5ms"}
	cases := []struct {
		name     string
		method   string
		retry    any
		statuses []int
		outcome  string
		attempts int32
	}{
		{"503 503 200", "GET", retry, []int{503, 503, 200}, "success", 3},
		{"gives up after attempts", "GET", retry, []int{502}, "responseError", 3},
		{"400 is not retried", "GET", retry, []int{400, 200}, "responseError", 1},
		{"POST is not retried", "POST", retry, []int{503, 200}, "responseError", 1},
		{"POST with unsafe", "POST", hf{"attempts": 3, "backoff": "5ms", "unsafe": true}, []int{503, 503, 200}, "success", 3},
		{"POST in methods", "POST", hf{"attempts": "2", "backoff": 0.005, "methods": []any{"post"}}, []int{500, 200}, "success", 2},
		{"PUT is idempotent", "PUT", retry, []int{504, 200}, "success", 2},
		{"no retry field", "GET", nil, []int{503, 200}, "responseError", 1},
		{"attempts as a number, JSON text", "GET", `{"attempts": 2, "backoff": "1ms"}`, []int{500, 200}, "success", 2},
		{"Retry-After too long", "GET", retry, []int{429, 200}, "responseError", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := httpCountingServer(t, tc.statuses...)
			fields := hf{"url": srv.URL, "method": tc.method}
			if tc.retry != nil {
				fields["retry"] = tc.retry
			}
			bp := httpBP(fields, []string{"success>ret", "responseError>ret"}, httpRet("@{result.body}"))
			res, log := env.run(t, bp, engine.RunOptions{})
			if res.Status != engine.StatusReturned {
				t.Fatalf("run %s: %v", res.Status, res.Err)
			}
			if ev := log.finished(t, "call"); ev.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s", ev.Outcome, tc.outcome)
			}
			if got := n.Load(); got != tc.attempts {
				t.Errorf("server saw %d requests, want %d", got, tc.attempts)
			}
			if want := fmt.Sprintf("attempt %d", tc.attempts); res.Return != want {
				t.Errorf("result body %q, want %q", res.Return, want)
			}
			if got := log.count(engine.BlockOutput, "call"); got != int(tc.attempts)-1 {
				t.Errorf("%d retry log lines, want %d", got, tc.attempts-1)
			}
		})
	}
}

func TestHTTPRetryConnectionErrors(t *testing.T) {
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{"url": httpRefusedURL(t), "retry": hf{"attempts": 3, "backoff": "1ms"}}, []string{"connectionError>ret"}, httpRet("@{message}"))
	res, log := env.run(t, bp, engine.RunOptions{})
	if res.Status != engine.StatusReturned {
		t.Fatalf("run %s: %v", res.Status, res.Err)
	}
	out := log.messages(engine.BlockOutput)
	if len(out) != 2 || !strings.HasPrefix(out[0], "attempt 1 of 3: connection failed:") {
		t.Errorf("retry log %q", out)
	}
}

// slowServer answers after d, or when the client goes away.
func httpSlowServer(t testing.TB, d time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			fmt.Fprint(w, "late")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPTimeout(t *testing.T) {
	srv := httpSlowServer(t, 5*time.Second)
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{"url": srv.URL, "timeout": "100ms", "retry": hf{"attempts": 5, "backoff": "1ms"}},
		[]string{"connectionError>ret"}, httpRet("@{message}"))
	start := time.Now()
	res, log := env.run(t, bp, engine.RunOptions{})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("run took %s", d)
	}
	if res.Status != engine.StatusReturned {
		t.Fatalf("run %s: %v", res.Status, res.Err)
	}
	if msg, _ := res.Return.(string); !strings.Contains(msg, "timed out") {
		t.Errorf("message %q", res.Return)
	}
	if n := log.count(engine.BlockOutput, "call"); n != 0 {
		t.Errorf("retried %d times after the timeout", n)
	}
}

func TestHTTPDefaultTimeoutIs30s(t *testing.T) {
	h := blocks.NewHTTPRequest(blocks.HTTPOptions{})
	defer h.Close()
	if d := h.Spec().DefaultTimeout; d != 30*time.Second {
		t.Errorf("DefaultTimeout %s", d)
	}
	if h.Spec().Field("timeout") == nil {
		t.Error("no timeout field")
	}
}

func TestHTTPMaxResponseBytes(t *testing.T) {
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	const total = 64 << 20
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("length") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(total))
		}
		for n := 0; n < total; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	}))
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	for _, query := range []string{"", "?length=1"} {
		t.Run("query"+query, func(t *testing.T) {
			sent.Store(0)
			bp := httpBP(hf{"url": srv.URL + query, "maxResponseBytes": "1KiB"}, []string{"connectionError>ret"}, httpRet("@{message}"))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, log := env.run(t, bp, engine.RunOptions{})
			runtime.ReadMemStats(&after)
			if res.Status != engine.StatusReturned {
				t.Fatalf("run %s: %v", res.Status, res.Err)
			}
			if msg, _ := res.Return.(string); !strings.Contains(msg, "larger than maxResponseBytes (1024 bytes)") {
				t.Errorf("message %q", res.Return)
			}
			m := httpResult(t, log.finished(t, "call"))
			if m["status_code"] != 200 || m["body"] != nil {
				t.Errorf("result %v", m)
			}
			// The client stopped reading: neither it nor the server
			// went through the 64 MiB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d bytes for a 1 KiB limit", alloc)
			}
			if s := sent.Load(); s >= total {
				t.Errorf("server sent all %d bytes", s)
			}
		})
	}
	t.Run("within the limit", func(t *testing.T) {
		small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(chunk[:1024])
		}))
		defer small.Close()
		bp := httpBP(hf{"url": small.URL, "maxResponseBytes": 1024}, []string{"success>ret"}, httpRet("@{result.body}"))
		res, _ := env.run(t, bp, engine.RunOptions{})
		if s, _ := res.Return.(string); len(s) != 1024 {
			t.Errorf("run %s, %d bytes", res.Status, len(s))
		}
	})
}

func TestHTTPRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/r/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			fmt.Fprint(w, "done")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	cases := []struct {
		hops    int
		follow  any
		outcome string
		message string
	}{
		{3, nil, "success", ""},
		{10, nil, "success", ""},
		{11, nil, "connectionError", "stopped after 10 redirects"},
		{3, 3, "success", ""},
		{3, "2", "connectionError", "stopped after 2 redirects"},
		{3, false, "responseError", "HTTP 302 Found"},
		{3, "true", "success", ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d hops, follow %v", tc.hops, tc.follow), func(t *testing.T) {
			fields := hf{"url": fmt.Sprintf("%s/r/%d", srv.URL, tc.hops)}
			if tc.follow != nil {
				fields["followRedirects"] = tc.follow
			}
			bp := httpBP(fields, []string{"success>ret", "responseError>ret", "connectionError>ret"}, httpRet("@{result.body}"))
			res, log := env.run(t, bp, engine.RunOptions{})
			ev := log.finished(t, "call")
			if ev.Outcome != tc.outcome || !strings.Contains(ev.Message, tc.message) {
				t.Errorf("outcome %s (%s), want %s (%s)", ev.Outcome, ev.Message, tc.outcome, tc.message)
			}
			if tc.outcome == "success" && res.Return != "done" {
				t.Errorf("return %v", res.Return)
			}
		})
	}
}

// echoServer answers with what it got, as JSON.
func httpEchoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/vnd.echo+json")
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "contentType": r.Header.Get("Content-Type"),
			"auth": r.Header.Get("Authorization"), "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPJSONBody(t *testing.T) {
	srv := httpEchoServer(t)
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	payload := hf{"name": `Ann "the" Great`, "n": 3.0}
	cases := []struct {
		name     string
		fields   hf
		wantCT   string
		wantBody any // the body the server got, parsed when JSON
	}{
		{"YAML map", hf{"bodyType": "JSON", "body": hf{"name": "@{payload.name}", "n": "@{payload.n}", "tags": []any{"a"}}},
			"application/json", map[string]any{"name": `Ann "the" Great`, "n": 3.0, "tags": []any{"a"}}},
		{"whole-field template", hf{"bodyType": "JSON", "body": "@{payload}"}, "application/json", map[string]any{"name": `Ann "the" Great`, "n": 3.0}},
		{"JSON text with a template", hf{"bodyType": "JSON", "body": `{"n": @{payload.n}, "k": "v"}`}, "application/json", map[string]any{"n": 3.0, "k": "v"}},
		{"own content type", hf{"bodyType": "json", "body": `[1]`, "headers": hf{"content-type": "application/merge-patch+json"}}, "application/merge-patch+json", []any{1.0}},
		{"text", hf{"body": "hello @{payload.name}"}, "text/plain; charset=utf-8", `hello Ann "the" Great`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := hf{"url": srv.URL, "method": "POST"}
			for k, v := range tc.fields {
				fields[k] = v
			}
			bp := httpBP(fields, []string{"success>ret"}, httpRet("@{result.body}"))
			res, log := env.run(t, bp, engine.RunOptions{Payload: payload})
			if res.Status != engine.StatusReturned {
				t.Fatalf("run %s: %v", res.Status, res.Err)
			}
			got, ok := res.Return.(map[string]any) // +json parsed
			if !ok {
				t.Fatalf("response body %#v not parsed", res.Return)
			}
			if got["method"] != "POST" || got["contentType"] != tc.wantCT {
				t.Errorf("server got %v", got)
			}
			var body any = got["body"]
			if tc.wantCT != "text/plain; charset=utf-8" {
				if err := json.Unmarshal([]byte(got["body"].(string)), &body); err != nil {
					t.Fatalf("server got invalid JSON %q", got["body"])
				}
			}
			if !reflect.DeepEqual(body, tc.wantBody) {
				t.Errorf("server got body %#v, want %#v", body, tc.wantBody)
			}
			req := httpResult(t, log.finished(t, "call"))["request"].(map[string]any)
			if !reflect.DeepEqual(req["body"], tc.wantBody) {
				t.Errorf("result request.body %#v", req["body"])
			}
		})
	}
}

func TestHTTPTextResponseStaysText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, `{"looks": "like JSON"}`)
		case "/broken":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"broken`)
		}
	}))
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	for path, warnings := range map[string]int{"/text": 0, "/broken": 1} {
		bp := httpBP(hf{"url": srv.URL + path}, []string{"success>ret"}, httpRet("@{result.body}"))
		res, log := env.run(t, bp, engine.RunOptions{})
		if _, ok := res.Return.(string); !ok {
			t.Errorf("%s: body %#v is not text", path, res.Return)
		}
		if n := log.count(engine.RunWarning, "call"); n != warnings {
			t.Errorf("%s: %d warnings", path, n)
		}
	}
}

func TestHTTPHeadersFromTemplates(t *testing.T) {
	srv := httpEchoServer(t)
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	const token = "tok-9f8e7d6c5b4a"
	for name, headers := range map[string]any{
		"YAML map":  hf{"Authorization": "Bearer @{vault.API_KEY}"},
		"JSON text": `{"Authorization": "Bearer @{vault.API_KEY}"}`,
	} {
		t.Run(name, func(t *testing.T) {
			bp := httpBP(hf{"url": srv.URL, "headers": headers}, []string{"success>ret"}, httpRet("@{result.body.auth}"))
			res, log := env.run(t, bp, engine.RunOptions{Secrets: httpSecrets{"API_KEY": token}})
			if res.Return != "Bearer "+token {
				t.Fatalf("run %s (%v): server got %q", res.Status, res.Err, res.Return)
			}
			// The scrubber knows the secret before the result that
			// holds it is emitted.
			if log.index("secret:"+token) < 0 || log.index("secret:"+token) > log.index("block.finished:call") {
				t.Errorf("secret not registered before the result: %v", log.order)
			}
		})
	}
}

func TestHTTPTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure")
	}))
	defer srv.Close()
	run := func(t *testing.T, opts blocks.HTTPOptions, fields hf) (string, string) {
		env := newHTTPEnv(t, opts)
		fields["url"] = srv.URL
		bp := httpBP(fields, []string{"success>ret", "connectionError>ret"}, httpRet("@{result.body}"))
		_, log := env.run(t, bp, engine.RunOptions{})
		ev := log.finished(t, "call")
		return ev.Outcome, ev.Message
	}
	t.Run("verified by default", func(t *testing.T) {
		outcome, msg := run(t, blocks.HTTPOptions{}, hf{})
		if outcome != "connectionError" || !strings.Contains(msg, "certificate") || !strings.Contains(msg, "insecureSkipVerify") {
			t.Errorf("outcome %s: %s", outcome, msg)
		}
	})
	t.Run("insecureSkipVerify", func(t *testing.T) {
		if outcome, msg := run(t, blocks.HTTPOptions{}, hf{"insecureSkipVerify": true}); outcome != "success" {
			t.Errorf("outcome %s: %s", outcome, msg)
		}
	})
	t.Run("trusted root", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		if outcome, msg := run(t, blocks.HTTPOptions{RootCAs: pool}, hf{}); outcome != "success" {
			t.Errorf("outcome %s: %s", outcome, msg)
		}
	})
	t.Run("test client transport", func(t *testing.T) {
		opts := blocks.HTTPOptions{Transport: srv.Client().Transport}
		if outcome, msg := run(t, opts, hf{}); outcome != "success" {
			t.Errorf("outcome %s: %s", outcome, msg)
		}
		if outcome, msg := run(t, opts, hf{"insecureSkipVerify": "true"}); outcome != "success" {
			t.Errorf("insecure: outcome %s: %s", outcome, msg)
		}
	})
}

func TestHTTPMask(t *testing.T) {
	const token, hdr = "access-7c1d2e3f4a5b", "hdr-0a9b8c7d6e"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Token", hdr)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusUnauthorized)
		}
		fmt.Fprintf(w, `{"access_token": %q, "expires_in": 3600, "items": [{"t": "item-secret-1"}]}`, token)
	}))
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	for name, tc := range map[string]struct {
		path string
		mask any
	}{
		"list":      {"/", []any{"body.access_token", "headers.x-token", "body.items.0.t", "body.missing"}},
		"JSON text": {"/", `["body.access_token", "headers.X-Token", "body.items.0.t", "body.missing"]`},
		"commas":    {"/", "body.access_token, headers.X-Token, body.items.0.t, body.missing"},
		"error too": {"/fail", []any{"body.access_token", "headers.X-Token", "body.items.0.t", "nope"}},
	} {
		t.Run(name, func(t *testing.T) {
			bp := httpBP(hf{"url": srv.URL + tc.path, "mask": tc.mask}, []string{"success>ret", "responseError>ret"}, httpRet("done"))
			res, log := env.run(t, bp, engine.RunOptions{})
			if res.Status != engine.StatusReturned {
				t.Fatalf("run %s: %v", res.Status, res.Err)
			}
			finished := log.index("block.finished:call")
			for _, s := range []string{token, hdr, "item-secret-1"} {
				if i := log.index("secret:" + s); i < 0 || i > finished {
					t.Errorf("%s not masked before the result: %v", s, log.order)
				}
			}
			if len(log.secrets) != 3 {
				t.Errorf("masked %q", log.secrets)
			}
			warn := log.messages(engine.RunWarning)
			if len(warn) != 1 || !strings.Contains(warn[0], "mask: nothing at") {
				t.Errorf("warnings %q", warn)
			}
		})
	}
}

func TestHTTPWriterStyleFields(t *testing.T) {
	// A Writer .wf file gives every field as text.
	srv := httpEchoServer(t)
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{
		"method": "post", "url": srv.URL, "bodyType": "JSON",
		"headers": `{"Authorization": "Basic @{payload.auth}"}`,
		"body":    `{"q": "@{payload.q}"}`,
		"timeout": "5", "maxResponseBytes": "1048576", "followRedirects": "false", "insecureSkipVerify": "false",
		"retry": `{"attempts": 2, "backoff": "0.01", "maxBackoff": "1s"}`,
	}, []string{"success>ret"}, httpRet("@{result.body}"))
	res, _ := env.run(t, bp, engine.RunOptions{Payload: hf{"auth": "dXNlcjpwdw==", "q": "x"}})
	got, ok := res.Return.(map[string]any)
	if !ok || got["auth"] != "Basic dXNlcjpwdw==" || got["body"] != `{"q": "x"}` || got["method"] != "POST" {
		t.Errorf("run %s (%v): server got %v", res.Status, res.Err, res.Return)
	}
}

// The block's client is one pool shared by every block: many parallel
// requests to one host reuse their connections across runs.
func TestHTTPConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpFanOut(srv.URL, 50)
	for i := 0; i < 3; i++ {
		if res, _ := env.run(t, bp, engine.RunOptions{}); res.Status != engine.StatusCompleted {
			t.Fatalf("run %s: %v", res.Status, res.Err)
		}
	}
	if n := conns.Load(); n > 50 {
		t.Errorf("%d connections for 3 runs of 50 parallel requests", n)
	}
}

// fanOut is a trigger leading to n parallel httprequest blocks.
func httpFanOut(url string, n int) *engine.Blueprint {
	start := httpBlk("start", "apitrigger", nil)
	bp := &engine.Blueprint{Key: "fanout", Source: "fanout.bp.yaml", Blocks: []*engine.BlockSpec{start}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("call%d", i)
		start.Outs = append(start.Outs, engine.Edge{Outcome: "trigger", To: id})
		bp.Blocks = append(bp.Blocks, httpBlk(id, "httprequest", hf{"url": url}))
	}
	return bp
}

func TestHTTPRedirectToAnotherOriginDropsTheBlocksHeaders(t *testing.T) {
	var got http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		fmt.Fprint(w, "landed")
	}))
	defer other.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusFound
		if r.Method == http.MethodPost {
			code = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, other.URL+"/elsewhere", code)
	}))
	defer first.Close()
	env := newHTTPEnv(t, blocks.HTTPOptions{})
	bp := httpBP(hf{"url": first.URL, "headers": map[string]any{"X-Api-Key": "sk-live-abcdef123456", "Authorization": "Bearer sk-live-abcdef123456"}},
		[]string{"success>ret"}, httpRet("@{result.body}"))
	res, _ := env.run(t, bp, engine.RunOptions{})
	if res.Return != "landed" {
		t.Fatalf("return %v (%v)", res.Return, res.Err)
	}
	if got.Get("X-Api-Key") != "" || got.Get("Authorization") != "" {
		t.Errorf("the other origin got the block's headers: %v", got)
	}

	post := httpBP(hf{"url": first.URL, "method": "POST", "body": "token=sk-live-abcdef123456"},
		[]string{"success>ret", "connectionError>ret"}, httpRet("@{message}"))
	got = nil
	res, _ = env.run(t, post, engine.RunOptions{})
	if got != nil || !strings.Contains(fmt.Sprint(res.Return), "refusing to send the request body to another origin") {
		t.Errorf("a 307 to another origin: return %v, other got %v", res.Return, got)
	}
}

// TestHTTPRedirectFromHTTPSToHTTPDropsTheBlocksHeaders redirects from
// https to plain http on the same host and port: the same host, another
// origin. Go's client would keep even Authorization there.
func TestHTTPRedirectFromHTTPSToHTTPDropsTheBlocksHeaders(t *testing.T) {
	var got http.Header
	srv, pool := newSchemeSniffingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			code := http.StatusFound
			if r.Method == http.MethodPost {
				code = http.StatusTemporaryRedirect
			}
			http.Redirect(w, r, "http://"+r.Host+"/landed", code)
			return
		}
		got = r.Header.Clone()
		fmt.Fprint(w, "landed in clear")
	}))
	env := newHTTPEnv(t, blocks.HTTPOptions{RootCAs: pool})
	bp := httpBP(hf{"url": "https://" + srv + "/start", "headers": map[string]any{"X-Api-Key": "sk-live-abcdef123456", "Authorization": "Bearer sk-live-abcdef123456"}},
		[]string{"success>ret"}, httpRet("@{result.body}"))
	res, _ := env.run(t, bp, engine.RunOptions{})
	if res.Return != "landed in clear" {
		t.Fatalf("return %v (%v)", res.Return, res.Err)
	}
	if got.Get("X-Api-Key") != "" || got.Get("Authorization") != "" {
		t.Errorf("the block's headers went over plain http: %v", got)
	}

	post := httpBP(hf{"url": "https://" + srv + "/start", "method": "POST", "body": "token=sk-live-abcdef123456"},
		[]string{"success>ret", "connectionError>ret"}, httpRet("@{message}"))
	got = nil
	res, _ = env.run(t, post, engine.RunOptions{})
	if got != nil || !strings.Contains(fmt.Sprint(res.Return), "refusing to send the request body to another origin (http://") {
		t.Errorf("a 307 from https to http: return %v, the plain side got %v", res.Return, got)
	}
}

// newSchemeSniffingServer serves https and plain http on one loopback
// port, telling them apart by the first byte a client sends (a TLS
// handshake record starts with 22). It returns host:port and a pool that
// trusts its certificate.
func newSchemeSniffingServer(t *testing.T, h http.Handler) (string, *x509.CertPool) {
	t.Helper()
	certSrv := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate
	tlsConfig := certSrv.TLS.Clone()
	tlsConfig.NextProtos = nil
	pool := x509.NewCertPool()
	pool.AddCert(certSrv.Certificate())
	certSrv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(&sniffListener{Listener: ln, tls: tlsConfig}) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), pool
}

type sniffListener struct {
	net.Listener
	tls *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && first[0] == 22 {
		return tls.Server(pc, l.tls), nil
	}
	return pc, nil
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// countingTransport counts the requests that go through it.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int32
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// TestHTTPWrapTransport sees every request on the wire, redirects and
// insecureSkipVerify blocks included.
func TestHTTPWrapTransport(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	defer tlsSrv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/end", http.StatusFound)
			return
		}
		fmt.Fprint(w, "plain")
	}))
	defer srv.Close()
	var n atomic.Int32
	env := newHTTPEnv(t, blocks.HTTPOptions{WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &n} }})
	for _, fields := range []hf{{"url": srv.URL + "/hop"}, {"url": tlsSrv.URL, "insecureSkipVerify": true}} {
		res, _ := env.run(t, httpBP(fields, []string{"success>ret"}, httpRet("@{result.body}")), engine.RunOptions{})
		if res.Return != "plain" && res.Return != "secure" {
			t.Fatalf("%v: %v (%v)", fields, res.Return, res.Err)
		}
	}
	if n.Load() != 3 {
		t.Errorf("the wrapper saw %d requests, want 3 (a redirect's two and the insecure one)", n.Load())
	}
}
