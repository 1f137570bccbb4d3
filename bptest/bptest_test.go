package bptest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const secret = "s3cret-token-9b2f"

// weatherBP calls one HTTP endpoint with a secret and returns part of the
// answer. No Python, so these tests are fast.
const weatherBP = `key: weather
vault: [API_KEY]
blocks:
  start:
    type: apitrigger
    outs: {trigger: call}
  call:
    type: httprequest
    fields:
      url: "http://api.test/weather?city=@{payload.city}"
      headers: {Authorization: "Bearer @{vault.API_KEY}"}
    outs: {success: done, responseError: oops, connectionError: oops}
  done: {type: returnvalue, fields: {value: {temp: "@{result.body.temp}", auth: "@{result.request.headers.Authorization}"}}}
  oops: {type: logmessage, fields: {type: error, message: "failed: @{message}"}}
`

const weatherCase = `payload: {city: Paris}
vault: {API_KEY: ` + secret + `}
http:
  - request:
      method: GET
      url: http://api.test/weather?city=Paris
      headers: {Authorization: Bearer ` + secret + `}
    response:
      body: {temp: 21.5}
`

// write creates files under dir: name → content.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCases(t *testing.T, path string, opts Options) []CaseResult {
	t.Helper()
	res, err := RunCases(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func one(t *testing.T, res []CaseResult) CaseResult {
	t.Helper()
	if len(res) != 1 {
		t.Fatalf("want 1 case, got %d: %+v", len(res), res)
	}
	return res[0]
}

// noSecret fails when any text of a result holds the secret.
func noSecret(t *testing.T, r CaseResult) {
	t.Helper()
	text := r.Diff
	if r.Err != nil {
		text += r.Err.Error()
	}
	if strings.Contains(text, secret) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Errorf("result leaks the secret:\n%s", text)
	}
}

func TestUpdateWritesThenPasses(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})

	r := one(t, runCases(t, dir, Options{}))
	if r.Passed || r.Err == nil || !strings.Contains(r.Err.Error(), "golden.json is missing") {
		t.Fatalf("without a golden file: %+v", r)
	}

	r = one(t, runCases(t, dir, Options{Update: true}))
	if !r.Passed || !r.Updated || r.Err != nil || r.Name != "weather" {
		t.Fatalf("update: %+v", r)
	}
	golden, err := os.ReadFile(filepath.Join(dir, "testdata/weather/golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := string(golden)
	for _, want := range []string{`"status": "returned"`, `"auth": "Bearer ***"`, `"temp": 21.5`, `"oops": {`, `"status": "skipped"`} {
		if !strings.Contains(g, want) {
			t.Errorf("golden lacks %s:\n%s", want, g)
		}
	}
	if strings.Contains(g, secret) || strings.Contains(g, "duration") || strings.Contains(g, `"run"`) || !strings.HasSuffix(g, "}\n") {
		t.Errorf("golden is not canonical:\n%s", g)
	}

	r = one(t, runCases(t, dir, Options{}))
	if !r.Passed || r.Updated || r.Diff != "" || r.Err != nil {
		t.Fatalf("second run: %+v", r)
	}
	// Updating an up-to-date golden file leaves it alone.
	if r := one(t, runCases(t, dir, Options{Update: true})); !r.Passed || r.Updated {
		t.Fatalf("update again: %+v", r)
	}
}

func TestDiffFailsAndUpdateRewrites(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})
	one(t, runCases(t, dir, Options{Update: true}))
	gp := filepath.Join(dir, "testdata/weather/golden.json")
	golden, _ := os.ReadFile(gp)
	stale := strings.Replace(string(golden), `"temp": 21.5`, `"temp": 19`, 1)
	if err := os.WriteFile(gp, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}

	r := one(t, runCases(t, dir, Options{}))
	if r.Passed || r.Err != nil {
		t.Fatalf("stale golden: %+v", r)
	}
	for _, want := range []string{"--- " + gp, "+++ actual run", "@@ "} {
		if !strings.Contains(r.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, r.Diff)
		}
	}
	if !regexp.MustCompile(`(?m)^-\s+"temp": 19\n\+\s+"temp": 21.5$`).MatchString(r.Diff) {
		t.Errorf("diff lacks the changed line:\n%s", r.Diff)
	}

	r = one(t, runCases(t, dir, Options{Update: true}))
	if !r.Passed || !r.Updated {
		t.Fatalf("update: %+v", r)
	}
	if now, _ := os.ReadFile(gp); string(now) != string(golden) {
		t.Errorf("update did not restore the golden file:\n%s", now)
	}
}

func TestGoldenWithVaultValueFails(t *testing.T) {
	for name, form := range map[string]string{
		"raw":    secret,
		"base64": base64.StdEncoding.EncodeToString([]byte(secret)),
		"basic":  base64.StdEncoding.EncodeToString([]byte("user:" + secret)),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})
			one(t, runCases(t, dir, Options{Update: true}))
			gp := filepath.Join(dir, "testdata/weather/golden.json")
			golden, _ := os.ReadFile(gp)
			leaky := strings.Replace(string(golden), `"Bearer ***"`, `"Bearer `+form+`"`, 1)
			if leaky == string(golden) {
				t.Fatal("no place for the secret")
			}
			if err := os.WriteFile(gp, []byte(leaky), 0o644); err != nil {
				t.Fatal(err)
			}
			r := one(t, runCases(t, dir, Options{}))
			if r.Passed || r.Err == nil || !strings.Contains(r.Err.Error(), "holds the value of vault secret API_KEY") {
				t.Fatalf("want a failure naming API_KEY: %+v", r)
			}
			noSecret(t, r)
			if strings.Contains(r.Diff, form) {
				t.Errorf("diff shows the secret's %s form:\n%s", name, r.Diff)
			}
		})
	}
}

// TestUpdateOverAGoldenWithAVaultValueTells plants a vault value in a
// golden file and updates it: the file is rewritten without it, and the
// case fails, naming the secret (the old file may be in version control).
func TestUpdateOverAGoldenWithAVaultValueTells(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})
	one(t, runCases(t, dir, Options{Update: true}))
	gp := filepath.Join(dir, "testdata/weather/golden.json")
	clean, _ := os.ReadFile(gp)
	planted := strings.Replace(string(clean), `"Bearer ***"`, `"Bearer `+base64.StdEncoding.EncodeToString([]byte(secret))+`"`, 1)
	if err := os.WriteFile(gp, []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	r := one(t, runCases(t, dir, Options{Update: true}))
	if r.Passed || !r.Updated || r.Err == nil || !strings.Contains(r.Err.Error(), "held the value of vault secret API_KEY") || !strings.Contains(r.Err.Error(), "rotate") {
		t.Fatalf("want a failure naming API_KEY: %+v", r)
	}
	noSecret(t, r)
	if now, _ := os.ReadFile(gp); string(now) != string(clean) {
		t.Errorf("the golden file was not rewritten:\n%s", now)
	}
	// Once rewritten, updates pass again.
	if r := one(t, runCases(t, dir, Options{Update: true})); !r.Passed || r.Updated {
		t.Fatalf("update again: %+v", r)
	}
}

// A secret the blueprint does not list is not scrubbed by the run (as in
// production); when it shows up in the summary, -update refuses to write.
func TestUpdateRefusesSummaryWithVaultValue(t *testing.T) {
	dir := t.TempDir()
	other := "0ther-secret-value-42"
	// The response echoes OTHER (base64), which the blueprint cannot see.
	caseText := strings.Replace(weatherCase, "vault: {API_KEY: "+secret+"}", "vault: {API_KEY: "+secret+", OTHER: "+other+"}", 1) +
		"      headers: {X-Echo: " + base64.StdEncoding.EncodeToString([]byte(other)) + "}\n"
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": caseText})

	r := one(t, runCases(t, dir, Options{Update: true}))
	if r.Passed || r.Updated || r.Err == nil || !strings.Contains(r.Err.Error(), "vault secret OTHER") || !strings.Contains(r.Err.Error(), "not written") {
		t.Fatalf("want a refusal naming OTHER: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata/weather/golden.json")); !os.IsNotExist(err) {
		t.Errorf("golden.json was written: %v", err)
	}
	if strings.Contains(r.Err.Error(), other) {
		t.Errorf("error leaks the value: %v", r.Err)
	}
}

func TestUnmatchedRequestFails(t *testing.T) {
	dir := t.TempDir()
	bp := strings.Replace(weatherBP, "city=@{payload.city}", "city=@{payload.city}&key=@{vault.API_KEY}", 1)
	write(t, dir, map[string]string{"weather.bp.yaml": bp, "testdata/weather/case.yaml": weatherCase})
	r := one(t, runCases(t, dir, Options{Update: true}))
	if r.Passed || r.Err == nil {
		t.Fatalf("want a failure: %+v", r)
	}
	msg := r.Err.Error()
	for _, want := range []string{
		"unmatched HTTP request: GET http://api.test/weather?city=Paris&key=***",
		"recorded exchange never requested: http[0] GET http://api.test/weather?city=Paris",
		"not written",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	noSecret(t, r)
	if _, err := os.Stat(filepath.Join(dir, "testdata/weather/golden.json")); !os.IsNotExist(err) {
		t.Errorf("golden.json was written: %v", err)
	}
}

func TestExchangeMatching(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"post.bp.yaml": `blocks:
  start: {type: apitrigger, outs: {trigger: send}}
  send:
    type: httprequest
    fields:
      method: POST
      url: "http://api.test/items/@{payload.id}?b=2&a=1"
      bodyType: JSON
      body: {name: "@{payload.name}", n: 3}
    outs: {success: again}
  again:
    type: httprequest
    fields: {url: "http://api.test/items/@{payload.id}?a=1&b=2"}
    outs: {success: down, connectionError: down}
  down:
    type: httprequest
    fields: {url: "http://down.test/"}
    outs: {connectionError: done}
  done: {type: returnvalue, fields: {value: ["@{results.send.body}", "@{results.again.status_code}", "@{results.down.error}"]}}
`,
		"testdata/post/case.yaml": `payload: {id: 7, name: box}
http:
  - request: {method: POST, urlPattern: 'http://api\.test/items/\d+\?.*', body: {n: 3, name: box}}
    response: {status: 201, body: created, headers: {Content-Type: text/plain}}
  - request: {url: "http://API.test/items/7?b=2&a=1"}
    response: {status: 204}
    repeat: true
  - request: {url: "http://down.test/"}
    response: {error: connection refused}
`,
	})
	r := one(t, runCases(t, dir, Options{Update: true}))
	if !r.Passed {
		t.Fatalf("%+v", r)
	}
	golden, _ := os.ReadFile(filepath.Join(dir, "testdata/post/golden.json"))
	for _, want := range []string{`"created",`, `204,`, `"outcome": "connectionError"`, "connection refused"} {
		if !strings.Contains(string(golden), want) {
			t.Errorf("golden lacks %s:\n%s", want, golden)
		}
	}
}

func TestLayoutAndFilter(t *testing.T) {
	dir := t.TempDir()
	simple := `blocks: {r: {type: returnvalue, fields: {value: "@{payload}"}}}`
	write(t, dir, map[string]string{
		"a.bp.yaml":                  simple,
		"testdata/a/case.yaml":       "payload: one\n",
		"testdata/a/two/case.yaml":   "payload: two\n",
		"testdata/a/three/case.yaml": "payload: three\n",
		"testdata/a/notacase/x.txt":  "",
		"sub/b.bp.yaml":              simple,
		"sub/testdata/b/case.yaml":   "payload: {x: 1}\n",
		"nocase.bp.yaml":             simple,
		// Not searched: testdata and hidden directories.
		"testdata/c.bp.yaml":            simple,
		"testdata/testdata/c/case.yaml": "payload: 1\n",
		".hidden/d.bp.yaml":             simple,
		".hidden/testdata/d/case.yaml":  "payload: 1\n",
	})
	var names []string
	for _, r := range runCases(t, dir, Options{Update: true}) {
		if !r.Passed {
			t.Errorf("%+v", r)
		}
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "a a/three a/two sub/b" {
		t.Errorf("cases: %s", got)
	}
	names = nil
	for _, r := range runCases(t, dir, Options{Filter: regexp.MustCompile(`^a/`)}) {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "a/three a/two" {
		t.Errorf("filtered: %s", got)
	}
	// A blueprint file names its own cases.
	if r := runCases(t, filepath.Join(dir, "sub", "b.bp.yaml"), Options{}); len(r) != 1 || r[0].Name != "b" || !r[0].Passed {
		t.Errorf("file: %+v", r)
	}
}

func TestCaseErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"w.bp.yaml":                  weatherBP,
		"testdata/w/case.yaml":       "payload: {}\nvault: {API_KEY: " + secret + "}\nhttp: [{request: {url: x}, respnse: {}}]\n",
		"testdata/w/state/case.yaml": "state: [1]\n",
		"testdata/w/num/case.yaml":   "vault: {API_KEY: 12345}\n",
		"testdata/w/bad/case.yaml":   "blueprint: nosuch\n",
	})
	for _, r := range runCases(t, dir, Options{}) {
		if r.Passed || r.Err == nil {
			t.Errorf("%s: want an error: %+v", r.Name, r)
			continue
		}
		noSecret(t, r)
		want := map[string]string{"w": "respnse", "w/state": "state: must be a mapping", "w/num": "must be a string", "w/bad": "nosuch"}[r.Name]
		if !strings.Contains(r.Err.Error(), want) {
			t.Errorf("%s: error lacks %q: %v", r.Name, want, r.Err)
		}
	}
}

// TestRun is bptest.Run itself on a passing directory.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})
	one(t, runCases(t, dir, Options{Update: true}))
	Run(t, dir)
}

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n"
	got := unifiedDiff("a", "b", a, b)
	want := `--- a
+++ b
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if unifiedDiff("a", "b", a, a) != "" {
		t.Error("equal texts differ")
	}
	if got := unifiedDiff("a", "b", "", "x\n"); got != "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n" {
		t.Errorf("from empty:\n%s", got)
	}
}

// Retries wait with jitter, and Python's stdout and stderr interleave
// freely: the golden file stays the same from run to run anyway.
func TestStableAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"flaky.bp.yaml": `blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call:
    type: httprequest
    fields:
      url: http://api.test/flaky
      retry: {attempts: 3, backoff: 5ms}
    outs: {success: py}
  py:
    type: code
    fields:
      code: |
        import sys
        for i in range(20):
            print("out", i)
            print("err", i, file=sys.stderr)
        set_output(result["body"])
`,
		"testdata/flaky/case.yaml": `http:
  - request: {url: http://api.test/flaky}
    response: {status: 503}
  - request: {url: http://api.test/flaky}
    response: {status: 503}
  - request: {url: http://api.test/flaky}
    response: {body: {ok: true}}
`,
	})
	r := one(t, runCases(t, dir, Options{Update: true}))
	if !r.Passed {
		t.Fatalf("%+v", r)
	}
	golden, _ := os.ReadFile(filepath.Join(dir, "testdata/flaky/golden.json"))
	var summary struct {
		Blocks map[string]struct{ Output map[string][]string }
	}
	if err := json.Unmarshal(golden, &summary); err != nil {
		t.Fatal(err)
	}
	// One entry a line: each retry note, each line printed.
	wantLog := []string{"attempt 1 of 3: HTTP 503 Service Unavailable; retrying in (wait)", "attempt 2 of 3: HTTP 503 Service Unavailable; retrying in (wait)"}
	if got := summary.Blocks["call"].Output["log"]; !reflect.DeepEqual(got, wantLog) {
		t.Errorf("call's log is %q, want %q", got, wantLog)
	}
	for stream, prefix := range map[string]string{"stdout": "out", "stderr": "err"} {
		got := summary.Blocks["py"].Output[stream]
		if len(got) != 20 || got[0] != prefix+" 0" || got[19] != prefix+" 19" {
			t.Errorf("py's %s is %q", stream, got)
		}
	}
	for i := 0; i < 3; i++ {
		if r := one(t, runCases(t, dir, Options{})); !r.Passed {
			t.Fatalf("run %d: %+v", i, r)
		}
	}
}

func TestCaseErrorsNeverQuoteTheFakeVault(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"w.bp.yaml":                 weatherBP,
		"testdata/w/case.yaml":      "vault: {API_KEY: " + secret + "}\nhttp: [{request: {urlPattern: \"(" + secret + "\"}, response: {status: 200}}]\n",
		"testdata/w/bomb/case.yaml": "a: &a [x, x]\nb: &b [*a, *a]\npayload: [*b, *b]\n",
		"testdata/w/slow/case.yaml": "vault: {API_KEY: " + secret + "}\ntimeout: " + secret + "\n",
	})
	for _, r := range runCases(t, dir, Options{}) {
		if r.Passed || r.Err == nil {
			t.Errorf("%s: want an error: %+v", r.Name, r)
			continue
		}
		noSecret(t, r)
		if r.Name == "w/bomb" && !strings.Contains(r.Err.Error(), "aliases") {
			t.Errorf("alias bomb: %v", r.Err)
		}
	}
}
