package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/server"
)

// canary is a secret whose characters change under every encoding.
const canary = `Cn4ry!s3cr3t/+"<&>x`

const leakyBP = `
key: leaky
blocks:
  start: {type: apitrigger, outs: {trigger: [log, keep, py]}}
  log: {type: logmessage, fields: {type: error, message: "raw @{vault.CANARY} end"}}
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
        print("path", urllib.parse.quote(s, safe=""))
        print("b64", base64.b64encode(b).decode())
        print("b64url", base64.urlsafe_b64encode(b).decode())
        print("basic", base64.b64encode(b"user:" + b).decode())
        print("err", s, file=sys.stderr)
        sys.stdout.write(s[:5])
        sys.stdout.write(s[5:] + "\n")
        set_output({"s": s, "b64": base64.b64encode(b).decode()})
    outs: {success: boom}
  boom:
    type: code
    fields: {code: "raise ValueError('bad key ' + vault['CANARY'])"}
    outs: {error: done}
  done: {type: returnvalue, fields: {value: {msg: "@{message}", py: "@{results.py}", secret: "@{vault.CANARY}", text: "it is @{vault.CANARY}"}}}
`

const failingBP = `
key: failing
blocks:
  py:
    type: code
    fields:
      code: |
        import base64
        print(base64.b64encode(vault["CANARY"].encode()).decode())
        raise RuntimeError("token=" + vault["CANARY"])
`

// failingLogBP fails on a connection error that names the URL, which
// holds the secret, raw and URL-escaped.
const failingLogBP = `
key: failinglog
blocks:
  call:
    type: httprequest
    fields: {url: "http://127.0.0.1:1/x?k=@{urlQuery(vault.CANARY)}&raw=@{vault.CANARY}", timeout: 2s}
`

func TestCanaryNeverLeavesTheServer(t *testing.T) {
	f := newFixture(t, map[string]string{
		"leaky.bp.yaml":      leakyBP,
		"failing.bp.yaml":    failingBP,
		"failinglog.bp.yaml": failingLogBP,
		"hello.bp.yaml":      helloBP,
	}, func(o *server.Options) { o.Token = "tok-" + strings.Repeat("7", 20) })

	f.expect(f.do("PUT", "/v1/vault/CANARY", canary), 204)
	f.expect(f.do("GET", "/v1/vault", ""), 200)
	f.expect(f.do("GET", "/v1/blueprints", ""), 200)

	var ids []string
	masked := func(where, body string) {
		t.Helper()
		if !strings.Contains(body, "***") {
			t.Errorf("%s shows no ***: was the secret masked, or lost?\n%s", where, body)
		}
	}
	for _, key := range []string{"leaky", "failing", "failinglog"} {
		// Streamed.
		a := f.expect(f.do("POST", "/v1/blueprints/"+key+"/runs?wait=1", ""), 200)
		masked(key+" stream", a.body)
		evs := parseSSE(t, a.body)
		res := evs[len(evs)-1]
		if res.kind != "result" {
			t.Fatalf("%s: last event %+v", key, res)
		}
		want := "returned"
		if key != "leaky" {
			want = "failed"
			// (The connection error of failinglog does not name the URL.)
			if e, _ := res.data["error"].(string); key == "failing" && !strings.Contains(e, "***") {
				t.Errorf("%s: result error %q", key, e)
			}
		}
		if res.data["status"] != want {
			t.Errorf("%s: result %v", key, res.data)
		}
		ids = append(ids, res.data["run"].(string))

		// In the background.
		id := f.expect(f.do("POST", "/v1/blueprints/"+key+"/runs", `{"x": 1}`), 202).json(t)["run"].(string)
		f.waitRun(id)
		ids = append(ids, id)
	}
	for i, id := range ids {
		if run := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).body; i < 4 {
			masked("GET run", run)
		}
		masked("GET events", f.expect(f.do("GET", "/v1/runs/"+id+"/events", ""), 200).body)
	}
	// The same runs from history.
	for _, id := range ids {
		rec, err := f.history.Get(context.Background(), id)
		if err != nil || rec.Status == "" {
			t.Fatalf("history of %s: %v", id, err)
		}
	}
	leaky := f.expect(f.do("GET", "/v1/runs/"+ids[0], ""), 200).json(t)
	ret, _ := leaky["return"].(map[string]any)
	if ret["secret"] != "***" || ret["text"] != "it is ***" || !strings.Contains(ret["msg"].(string), "bad key ***") {
		t.Errorf("leaky return: %v", leaky["return"])
	}

	// Error answers that would echo the secret: as a blueprint key, a
	// run id, a payload.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/blueprints/" + url.PathEscape(canary) + "/runs", ""},
		{"POST", "/v1/blueprints/" + url.PathEscape(canary) + "/runs?wait=1", ""},
		{"GET", "/v1/runs/" + url.PathEscape(canary), ""},
		{"GET", "/v1/runs/" + url.PathEscape(canary) + "/events", ""},
		{"POST", "/v1/blueprints/hello/runs", canary},
		{"PUT", "/v1/vault/" + url.PathEscape(canary), canary},
	} {
		a := f.do(c.method, c.path, c.body)
		if a.status < 400 {
			t.Errorf("%s %s: %d", c.method, c.path, a.status)
		}
	}
	// Unauthenticated answers hold nothing either.
	f.expect(f.doWith("GET", "/v1/runs/"+ids[0], "", nil), 401)

	f.mu.Lock()
	answers := append([]string(nil), f.answers...)
	f.mu.Unlock()
	answers = append(answers, f.log.String())
	for _, text := range answers {
		// As sent, and as a client decodes it: every JSON string in the
		// body or in a server-sent event's data.
		texts := append([]string{text}, decodedStrings(text)...)
		for _, s := range texts {
			if form, ok := leaktest.Find(s, canary); ok {
				t.Errorf("an answer holds the canary as %q:\n%s", form, text)
			}
		}
	}
	if len(answers) < 30 {
		t.Errorf("only %d answers checked", len(answers))
	}
}

// decodedStrings finds the JSON in an answer (its body, or the data of its
// events) and returns every string in it, map keys included.
func decodedStrings(answer string) []string {
	var docs []string
	_, body, _ := strings.Cut(answer, "\r\n\r\n")
	docs = append(docs, body, answer)
	for _, line := range strings.Split(answer, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			docs = append(docs, d)
		}
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		}
	}
	for _, d := range docs {
		var v any
		if json.Unmarshal([]byte(strings.TrimSpace(d)), &v) == nil {
			walk(v)
		}
	}
	return out
}
