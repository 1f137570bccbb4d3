package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCmdTestGoldenFiles(t *testing.T) {
	const secret = "cli-fake-key-31c7a0"
	env := newBPEnv(t)
	env.write("flows/weather.bp.yaml", `key: weather
vault: [API_KEY]
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call:
    type: httprequest
    fields:
      url: "http://api.test/weather?city=@{payload.city}"
      headers: {Authorization: "Bearer @{vault.API_KEY}"}
    outs: {success: done}
  done: {type: returnvalue, fields: {value: {temp: "@{result.body.temp}", sent: "@{result.request.headers.Authorization}"}}}
`)
	env.write("flows/testdata/weather/case.yaml", `payload: {city: Oslo}
vault: {API_KEY: `+secret+`}
http:
  - request: {url: "http://api.test/weather?city=Oslo", headers: {Authorization: Bearer `+secret+`}}
    response: {body: {temp: 4}}
`)
	golden := filepath.Join(env.home, "flows/testdata/weather/golden.json")

	r := env.run("", "test", "flows")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL weather") || !strings.Contains(r.stdout, "golden.json is missing") {
		t.Fatalf("no golden yet: %v", r)
	}

	r = env.run("", "test", "-update", "flows")
	if r.code != 0 || !strings.Contains(r.stdout, "ok   weather (") || !strings.Contains(r.stdout, "golden file updated") || !strings.HasSuffix(r.stdout, "1 passed, 0 failed\n") {
		t.Fatalf("-update: %v", r)
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"sent": "Bearer ***"`) || strings.Contains(string(data), secret) {
		t.Fatalf("golden:\n%s", data)
	}

	// From the directory itself, PATH defaulting to ".".
	env2 := *env
	env2.home = filepath.Join(env.home, "flows")
	if r := env2.run("", "test"); r.code != 0 || !strings.Contains(r.stdout, "ok   weather") {
		t.Fatalf("bp test in flows/: %v", r)
	}

	// A stale golden file fails, with a diff.
	stale := strings.Replace(string(data), `"temp": 4`, `"temp": 5`, -1)
	if err := os.WriteFile(golden, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	r = env.run("", "test", "flows")
	changed := regexp.MustCompile(`(?m)^    -\s+"temp": 5\n    \+\s+"temp": 4$`)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL weather") || !changed.MatchString(r.stdout) || !strings.HasSuffix(r.stdout, "0 passed, 1 failed\n") {
		t.Fatalf("stale golden: %v", r)
	}

	// A golden file holding the secret, here base64-encoded, fails and is
	// never echoed.
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	if err := os.WriteFile(golden, []byte(strings.Replace(string(data), "Bearer ***", "Bearer "+b64, -1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = env.run("", "test", "flows/weather.bp.yaml")
	if r.code != 1 || !strings.Contains(r.stdout, "holds the value of vault secret API_KEY") {
		t.Fatalf("golden with the secret: %v", r)
	}
	if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout+r.stderr, b64) {
		t.Fatalf("bp test printed the secret: %v", r)
	}

	// -update over it rewrites the file, and fails loudly, naming the
	// secret: the old file may be in version control.
	r = env.run("", "test", "-update", "flows")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL weather") || !strings.Contains(r.stdout, "golden file updated") ||
		!strings.Contains(r.stdout, "held the value of vault secret API_KEY") || !strings.Contains(r.stdout, "rotate") {
		t.Fatalf("-update over a golden with the secret: %v", r)
	}
	if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout+r.stderr, b64) {
		t.Fatalf("bp test -update printed the secret: %v", r)
	}
	if now, _ := os.ReadFile(golden); string(now) != string(data) {
		t.Fatalf("golden not rewritten:\n%s", now)
	}

	// --update and --run work with two dashes too.
	if r := env.run("", "test", "--update", "--run", "^weather$", "flows"); r.code != 0 || !strings.Contains(r.stdout, "1 passed, 0 failed") {
		t.Fatalf("--update: %v", r)
	}
	if r := env.run("", "test", "-run", "nomatch", "flows"); r.code != 0 || !strings.Contains(r.stdout, "no test cases found") {
		t.Fatalf("-run nomatch: %v", r)
	}
}

func TestCmdTestVerboseAndJSON(t *testing.T) {
	const secret = "cli-fake-key-31c7a0"
	env := newBPEnv(t)
	env.write("flows/weather.bp.yaml", `key: weather
vault: [API_KEY]
blocks:
  call:
    type: httprequest
    fields: {url: "http://api.test/weather", headers: {Authorization: "Bearer @{vault.API_KEY}"}}
    outs: {success: say}
  say: {type: logmessage, fields: {message: "sent @{result.request.headers.Authorization}"}}
`)
	env.write("flows/testdata/weather/case.yaml", `vault: {API_KEY: `+secret+`}
http:
  - request: {url: "http://api.test/weather", headers: {Authorization: "Bearer @{vault.API_KEY}"}}
    response: {body: {temp: 4}}
`)
	if r := env.run("", "test", "-update", "flows"); r.code != 0 {
		t.Fatalf("-update: %v", r)
	}

	r := env.run("", "test", "-v", "flows")
	for _, want := range []string{"=== RUN   weather\n", "    ▶ weather run ", "      ✓ call ", "      │ say: sent Bearer ***\n", "ok   weather (", "1 passed, 0 failed\n"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("-v lacks %q: %v", want, r)
		}
	}

	// -json: test2json's events, the case a Test, the path its Package.
	check := func(args []string, wantAction string) []map[string]any {
		t.Helper()
		r := env.run("", append([]string{"test", "-json"}, args...)...)
		var events []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not a JSON line %q: %v", line, r)
			}
			if e["Package"] != "flows" || e["Time"] == nil {
				t.Errorf("event %v", e)
			}
			events = append(events, e)
		}
		if strings.Contains(r.stdout, secret) {
			t.Errorf("-json shows the secret: %s", r.stdout)
		}
		last := events[len(events)-1]
		if len(events) < 4 || events[0]["Action"] != "start" || last["Action"] != wantAction || last["Test"] != nil || last["Elapsed"] == nil {
			t.Fatalf("events %v", events)
		}
		return events
	}
	var actions []string
	var output strings.Builder
	for _, e := range check([]string{"flows"}, "pass") {
		if e["Test"] == "weather" {
			actions = append(actions, e["Action"].(string))
			if e["Action"] == "output" {
				output.WriteString(e["Output"].(string))
			}
		}
	}
	if actions[0] != "run" || actions[len(actions)-1] != "pass" || !strings.Contains(output.String(), "│ say: sent Bearer ***\n") || !strings.Contains(output.String(), "--- PASS: weather (") {
		t.Errorf("the case's events: %v\n%s", actions, output.String())
	}

	golden := filepath.Join(env.home, "flows/testdata/weather/golden.json")
	data, _ := os.ReadFile(golden)
	if err := os.WriteFile(golden, []byte(strings.Replace(string(data), `"temp": 4`, `"temp": 5`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	output.Reset()
	var failed bool
	for _, e := range check([]string{"flows"}, "fail") {
		if e["Test"] == "weather" {
			failed = failed || e["Action"] == "fail"
			if e["Action"] == "output" {
				output.WriteString(e["Output"].(string))
			}
		}
	}
	if !failed || !strings.Contains(output.String(), `+          "temp": 4`) || !strings.Contains(output.String(), "--- FAIL: weather (") {
		t.Errorf("a failing case's events:\n%s", output.String())
	}
}

func TestCmdTestUsage(t *testing.T) {
	env := newBPEnv(t)
	if r := env.run("", "test", "--help"); r.code != 0 || !strings.Contains(r.stdout, "golden") || !strings.Contains(r.stdout, "bp test -update") {
		t.Errorf("--help: %v", r)
	}
	if r := env.run("", "test", "-run", "(", "."); r.code != 2 || !strings.Contains(r.stderr, "-run") {
		t.Errorf("bad -run: %v", r)
	}
	if r := env.run("", "test", "nosuch"); r.code != 2 {
		t.Errorf("missing path: %v", r)
	}
	if r := env.run("", "test", "--bogus"); r.code != 2 {
		t.Errorf("unknown flag: %v", r)
	}
}

// TestCmdTestExamples runs the bundled examples' golden cases with the
// real binary (Python included).
func TestCmdTestExamples(t *testing.T) {
	dir, err := filepath.Abs("../../blueprints/examples")
	if err != nil {
		t.Fatal(err)
	}
	env := newBPEnv(t)
	r := env.run("", "test", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "ok   demo (") || strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("%v", r)
	}
}

// TestCmdTestRecord records a case against a server on loopback, with the
// real vault's value for the case's secret: the case is written with the
// secret as a template, and replays offline.
func TestCmdTestRecord(t *testing.T) {
	const live, fake = "live-key-5e6f7a8b9c", "fake-key-1a2b3c4d"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+live {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"temp": 7}`)
	}))
	defer srv.Close()
	env := newBPEnv(t)
	if r := env.run("", "vault", "init"); r.code != 0 {
		t.Fatalf("vault init: %v", r)
	}
	if r := env.run(live, "vault", "set", "API_KEY"); r.code != 0 {
		t.Fatalf("vault set: %v", r)
	}
	env.write("flows/weather.bp.yaml", `vault: [API_KEY]
blocks:
  call: {type: httprequest, fields: {url: "`+srv.URL+`/weather", headers: {Authorization: "Bearer @{vault.API_KEY}"}}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result.body.temp}"}}
`)
	env.write("flows/testdata/weather/case.yaml", "vault: {API_KEY: "+fake+"}\n")

	r := env.run("", "test", "-record", "-run", "^weather$", "flows")
	if r.code != 0 || !strings.Contains(r.stdout, "ok   weather (") || !strings.Contains(r.stdout, "(exchanges recorded, golden file updated)") {
		t.Fatalf("-record: %v", r)
	}
	caseText, err := os.ReadFile(filepath.Join(env.home, "flows/testdata/weather/case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(caseText), `Authorization: "Bearer @{vault.API_KEY}"`) || strings.Contains(string(caseText), live) {
		t.Fatalf("case.yaml:\n%s", caseText)
	}
	if strings.Contains(r.stdout+r.stderr, live) {
		t.Fatalf("bp test -record printed the secret: %v", r)
	}
	srv.Close()
	if r := env.run("", "test", "flows"); r.code != 0 || !strings.Contains(r.stdout, "1 passed, 0 failed") {
		t.Fatalf("replay: %v", r)
	}
}
