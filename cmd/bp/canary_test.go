package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
)

// The canaries: secrets whose characters change under every encoding, one
// of them on two lines.
const (
	canaryKey   = `Cn4ry!s3cr3t/+"<&>x`
	canaryLines = "first-line-s3cret\r\nsecond-line-s3cret"
)

func assertNoCanary(t *testing.T, where, text string) {
	t.Helper()
	if f, ok := leaktest.Find(text, canaryKey, canaryLines); ok {
		t.Errorf("%s shows a canary form %q:\n%s", where, f, text)
	}
}

// echoServer answers every request with the request itself: headers,
// query and body, as JSON, as careless servers do.
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(map[string]any{
			"headers": r.Header, "query": r.URL.RawQuery, "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

const canaryBlueprint = `
blocks:
  start: {type: apitrigger, outs: {trigger: [call, log, keep, py]}}
  call:
    type: httprequest
    fields:
      method: POST
      url: "@{payload.api}/echo?k=@{urlQuery(vault.CANARY)}&p=@{urlPath(vault.CANARY)}"
      headers:
        Authorization: "Bearer @{vault.CANARY}"
        X-Basic: "Basic @{toBase64('user:' + vault.CANARY)}"
      bodyType: JSON
      body: {secret: "@{vault.CANARY}", lines: "@{vault.LINES}"}
    outs: {success: after}
  after: {type: logmessage, fields: {message: "echo: @{result.body}"}}
  log: {type: logmessage, fields: {type: error, message: "raw @{vault.CANARY} lines @{vault.LINES}"}}
  keep: {type: setstate, fields: {element: leaked, value: "@{vault.CANARY}"}}
  py:
    type: code
    fields:
      code: |
        import base64, json, sys, urllib.parse
        s = vault["CANARY"]
        b = s.encode()
        print("raw", s)
        print("json", json.dumps(s))
        print("query", urllib.parse.quote_plus(s))
        print("path", urllib.parse.quote(s, safe="$&+,;=:@"))
        print("b64", base64.b64encode(b).decode())
        print("b64url", base64.urlsafe_b64encode(b).decode())
        print("b64nopad", base64.b64encode(b).decode().rstrip("="))
        print("b64+newline", base64.b64encode(b + b"\n").decode())
        print("basic", base64.b64encode(b"user:" + b).decode())
        print("url", "https://user:" + s + "@host/")
        print("lines", vault["LINES"], file=sys.stderr)
        sys.stdout.write(s[:5])
        sys.stdout.write(s[5:] + "\n")
        set_output({"s": s, "b64": base64.b64encode(b).decode()})
    outs: {success: boom}
  boom:
    type: code
    fields:
      code: |
        raise ValueError("bad key " + vault["CANARY"])
    outs: {error: done}
  done: {type: returnvalue, fields: {value: {msg: "@{message}", py: "@{results.py}", state: "@{leaked}"}}}
`

func TestNoCanaryLeavesARunOnAnyPath(t *testing.T) {
	env := newBPEnv(t)
	if r := env.run("", "vault", "init"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	for name, value := range map[string]string{"CANARY": canaryKey, "LINES": canaryLines} {
		if r := env.run(value, "vault", "set", name); r.code != 0 {
			t.Fatalf("%v", r)
		}
	}
	srv := echoServer(t)
	path := env.write("leaky.bp.yaml", canaryBlueprint)
	payload := `{"api": "` + srv.URL + `"}`

	var runIDs []string
	for _, format := range []string{"pretty", "json"} {
		r := env.run("", "run", path, "--payload", payload, "--log", format)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		assertNoCanary(t, "stdout ("+format+")", r.stdout)
		assertNoCanary(t, "stderr ("+format+")", r.stderr)
		for _, want := range []string{"raw ***", "b64+newline ***", "basic ", "https://user:***@host/"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("log (%s) lacks %q: was the secret masked or lost?\n%s", format, want, r.stderr)
			}
		}
		if !strings.Contains(r.stdout, `"msg": "ValueError: bad key ***"`) && !strings.Contains(r.stdout, `bad key ***`) {
			t.Errorf("return value lacks the masked error:\n%s", r.stdout)
		}
		if format == "json" {
			for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				var e map[string]any
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("JSON log line %q: %v", line, err)
				}
				if id, _ := e["run"].(string); id != "" && (len(runIDs) == 0 || runIDs[len(runIDs)-1] != id) {
					runIDs = append(runIDs, id)
				}
			}
		}
	}

	// A run that fails with the secret in its error.
	failing := env.write("fails.bp.yaml", `
blocks:
  py: {type: code, fields: {code: "raise RuntimeError('token=' + vault['CANARY'])"}}
`)
	r := env.run("", "run", failing)
	if r.code != 1 || !strings.Contains(r.stderr, "token=***") {
		t.Errorf("failing run: %v", r)
	}
	assertNoCanary(t, "failing run", r.stdout+r.stderr)

	// Stored history, as bp runs shows it and as the file holds it.
	for _, id := range runIDs {
		for _, args := range [][]string{{"runs", "show", id}, {"runs", "show", id, "--json"}} {
			r := env.run("", args...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			assertNoCanary(t, strings.Join(args, " "), r.stdout+r.stderr)
		}
	}
	if r := env.run("", "runs", "list"); r.code != 0 {
		t.Fatalf("%v", r)
	} else {
		assertNoCanary(t, "runs list", r.stdout)
	}
	raw, err := os.ReadFile(filepath.Join(env.home, "data", "bp", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "history file", string(raw))
}
