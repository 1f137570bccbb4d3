package bptest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/runner"
)

// The live values a recording sends, and the fake ones the case holds:
// both with characters that change under every encoding.
const (
	liveKey  = `l1ve-k3y/+&"q x`
	livePass = `l1ve-pa55?=#`
	liveTok  = "live-token-6f1e2d3c4b5a"
	fakeKey  = "fake-key-0a1b2c3d"
	fakePass = "fake-pass-9z8y7x"
)

// liveAPI is a server that checks the live secrets: a paginated list, a
// Basic-auth login that returns a token, a call with that token whose
// answer echoes the key (raw and base64), and a flaky endpoint.
func liveAPI(t *testing.T) *httptest.Server {
	var flaky atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", flaky.Load()))
		switch r.URL.Path {
		case "/items":
			if r.Header.Get("Authorization") != "Bearer "+liveKey || r.URL.Query().Get("key") != liveKey {
				http.Error(w, "bad key", http.StatusUnauthorized)
				return
			}
			next := map[string]string{"": "c2", "c2": ""}[r.URL.Query().Get("cursor")]
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"items": [%q], "next": %q}`, "item-after-"+r.URL.Query().Get("cursor"), next)
		case "/login":
			user, pass, ok := r.BasicAuth()
			if !ok || user != "alice" || pass != livePass {
				http.Error(w, "bad login", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token": %q, "expires_in": 3600}`, liveTok)
		case "/me":
			var body struct{ Key string }
			_ = json.NewDecoder(r.Body).Decode(&body)
			if r.Header.Get("Authorization") != "Bearer "+liveTok || body.Key != liveKey {
				http.Error(w, "bad token", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Echo", base64.StdEncoding.EncodeToString([]byte(liveKey)))
			b, _ := json.Marshal(map[string]any{"name": "alice", "key": liveKey, "note": "@{not a template}"})
			w.Write(b)
		case "/flaky":
			if flaky.Add(1) == 1 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "fine")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

const liveBP = `vault: [API_KEY, PASS]
blocks:
  start: {type: apitrigger, outs: {trigger: page1}}
  page1:
    type: httprequest
    fields:
      url: "@{payload.base}/items?key=@{urlQuery(vault.API_KEY)}"
      headers: {Authorization: "Bearer @{vault.API_KEY}"}
    outs: {success: page2}
  page2:
    type: httprequest
    fields:
      url: "@{payload.base}/items?key=@{urlQuery(vault.API_KEY)}&cursor=@{result.body.next}"
      headers: {Authorization: "Bearer @{vault.API_KEY}"}
    outs: {success: login}
  login:
    type: httprequest
    fields:
      method: POST
      url: "@{payload.base}/login"
      headers: {Authorization: "Basic @{toBase64('alice:' + vault.PASS)}"}
      mask: body.access_token
    outs: {success: me}
  me:
    type: httprequest
    fields:
      method: POST
      url: "@{payload.base}/me"
      headers: {Authorization: "Bearer @{results.login.body.access_token}"}
      bodyType: JSON
      body: {key: "@{vault.API_KEY}", want: [name]}
    outs: {success: flaky}
  flaky:
    type: httprequest
    fields: {url: "@{payload.base}/flaky", retry: {attempts: 2, backoff: 1ms}}
    outs: {success: done}
  done: {type: returnvalue, fields: {value: {items: ["@{results.page1.body.items}", "@{results.page2.body.items}"], me: "@{results.me.body}", flaky: "@{result.body}"}}}
`

func recordCase(t *testing.T, dir string, live runner.StaticSecrets) CaseResult {
	t.Helper()
	res, err := RunCases(context.Background(), dir, Options{Record: true, LiveSecrets: live})
	if err != nil {
		t.Fatal(err)
	}
	return one(t, res)
}

// TestRecordAgainstALoopbackServer records a case against a live server,
// with live secrets unlike the case's fake ones: the written case holds
// no secret (live, fake or masked, in any encoding) outside its vault:
// section, and replays and passes as written.
func TestRecordAgainstALoopbackServer(t *testing.T) {
	srv := liveAPI(t)
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"live.bp.yaml": liveBP,
		"testdata/live/case.yaml": `# recorded by bp test --record
payload: {base: "` + srv.URL + `"}
vault: {API_KEY: ` + fakeKey + `, PASS: ` + fakePass + `}
http:
  - request: {url: "http://stale.test/"}   # replaced by the recording
timeout: 20s
`,
	})
	r := recordCase(t, dir, runner.StaticSecrets{"API_KEY": liveKey, "PASS": livePass})
	if !r.Passed || !r.Recorded || !r.Updated {
		t.Fatalf("%+v", r)
	}
	caseText := readFile(t, filepath.Join(dir, "testdata/live/case.yaml"))
	golden := readGolden(t, dir, "live")
	vaultLine := "vault: {API_KEY: " + fakeKey + ", PASS: " + fakePass + "}\n"
	exchanges := strings.Replace(caseText, vaultLine, "", 1)
	for where, text := range map[string]string{"case.yaml": caseText, "its exchanges": exchanges, "golden.json": golden} {
		secrets := []string{liveKey, livePass, liveTok}
		if where != "case.yaml" {
			secrets = append(secrets, fakeKey, fakePass)
		}
		if form, ok := leaktest.Find(text, secrets...); ok {
			t.Errorf("%s holds a secret as %q:\n%s", where, form, text)
		}
	}
	for _, want := range []string{
		"# recorded by bp test --record\n", vaultLine, "timeout: 20s\n",
		`Authorization: "Bearer @{vault.API_KEY}"`,
		`key=@{vault.API_KEY}`,
		`Authorization: "Basic @{toBase64(\"alice:\" + vault.PASS)}"`,
		`"access_token": "bptest-masked-1"`,
		`Authorization: "Bearer bptest-masked-1"`,
		`"key": "@{vault.API_KEY}"`,
		`X-Echo: "@{toBase64(vault.API_KEY)}"`,
		`"note": "\\@{not a template}"`,
		"status: 503", `body: "fine"`,
	} {
		if !strings.Contains(caseText, want) {
			t.Errorf("case.yaml lacks %s:\n%s", want, caseText)
		}
	}
	for _, gone := range []string{"stale.test", "X-Request-Id", `"Date"`} {
		if strings.Contains(caseText, gone) {
			t.Errorf("case.yaml still has %s:\n%s", gone, caseText)
		}
	}
	if !strings.Contains(golden, `"item-after-c2"`) || !strings.Contains(golden, `"fine"`) || !strings.Contains(golden, `"note": "@{not a template}"`) {
		t.Errorf("golden.json:\n%s", golden)
	}

	// The recorded case replays offline, as written.
	srv.Close()
	if r := one(t, runCases(t, dir, Options{})); !r.Passed {
		t.Fatalf("replay: %+v", r)
	}
}

// TestRecordRefusesASecretItCannotTemplate records a response that
// echoes the key in URL-safe base64, which no template writes: the case
// is not written.
func TestRecordRefusesASecretItCannotTemplate(t *testing.T) {
	const key = "k3y-with->?>-bytes"
	if base64.URLEncoding.EncodeToString([]byte(key)) == base64.StdEncoding.EncodeToString([]byte(key)) {
		t.Fatal("the key must differ in the two alphabets")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "token "+base64.URLEncoding.EncodeToString([]byte(r.Header.Get("X-Key"))))
	}))
	defer srv.Close()
	dir := t.TempDir()
	caseText := "vault: {KEY: '" + key + "'}\n"
	write(t, dir, map[string]string{
		"echo.bp.yaml":            "vault: [KEY]\nblocks:\n  c: {type: httprequest, fields: {url: \"" + srv.URL + "\", headers: {X-Key: \"@{vault.KEY}\"}}}\n",
		"testdata/echo/case.yaml": caseText,
	})
	r := recordCase(t, dir, nil)
	if r.Passed || r.Err == nil || !strings.Contains(r.Err.Error(), "not written") || !strings.Contains(r.Err.Error(), "vault secret KEY") {
		t.Fatalf("%+v", r)
	}
	if got := readFile(t, filepath.Join(dir, "testdata/echo/case.yaml")); got != caseText {
		t.Errorf("case.yaml changed:\n%s", got)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
