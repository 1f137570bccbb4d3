package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bprun/bp/server"
	"github.com/bprun/bp/vault"
)

const helloBP = `
key: hello
description: Says hello
blocks:
  start: {type: apitrigger, fields: {defaultResult: {name: world}}, outs: {trigger: greet}}
  greet: {type: logmessage, fields: {message: "hello @{result.name}"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: {greeting: "hello @{results.start.name}"}}}
`

// waitBP calls the URL in its payload and returns: it runs as long as the
// server at that URL takes to answer.
const waitBP = `
key: waiting
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call:
    type: httprequest
    fields: {url: "@{payload.url}", timeout: 20s}
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result.body}"}}
`

const invalidBP = `
key: invalid
blocks:
  a: {type: nosuchtype, outs: {success: b}}
  b: {type: logmessage, fields: {message: hi}, outs: {success: a}}
`

const brokenBP = "key: broken\nblocks: [unclosed\n"

func basicFiles() map[string]string {
	return map[string]string{
		"hello.bp.yaml":   helloBP,
		"waiting.bp.yaml": waitBP,
		"invalid.bp.yaml": invalidBP,
		"broken.bp.yaml":  brokenBP,
	}
}

func TestHealthzAndAuth(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.Token = "s3cret-token-value" })

	a := f.doWith("GET", "/healthz", "", nil)
	if a.status != 200 || strings.TrimSpace(a.body) != "ok" {
		t.Errorf("healthz: %d %q", a.status, a.body)
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-token-valuX", "s3cret-token-value", "Basic czNjcmV0"} {
		for _, path := range []string{"/v1/blueprints", "/v1/vault", "/v1/runs/x", "/nowhere"} {
			a := f.doWith("GET", path, "", func(r *http.Request) {
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
			})
			if a.status != 401 || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s with %q: %d %s", path, auth, a.status, a.body)
			}
			if got := a.json(t)["error"]; got == nil {
				t.Errorf("401 without a JSON error: %s", a.body)
			}
		}
	}
	// Changes need the token too.
	f.expect(f.doWith("PUT", "/v1/vault/X_KEY", "value-1234", nil), 401)
	f.expect(f.doWith("POST", "/v1/blueprints/hello/runs", "", nil), 401)
	f.expect(f.do("GET", "/v1/blueprints", ""), 200)
	f.expect(f.doWith("GET", "/v1/vault", "", func(r *http.Request) { r.Header.Set("Authorization", "bearer s3cret-token-value") }), 200)
}

func TestNoTokenAnswersOnlyLoopbackHosts(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	f.expect(f.do("GET", "/v1/blueprints", ""), 200)
	a := f.doWith("GET", "/v1/blueprints", "", func(r *http.Request) { r.Host = "attacker.example:8080" })
	f.expect(a, 403)
	a = f.doWith("GET", "/v1/vault", "", func(r *http.Request) { r.Host = "localhost:8080" })
	f.expect(a, 200)
	// A browser's cross-site form post does not start a run.
	a = f.doWith("POST", "/v1/blueprints/hello/runs", "", func(r *http.Request) {
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Origin", "https://attacker.example")
	})
	if a.status != 403 {
		t.Errorf("cross-site POST: %d %s", a.status, a.body)
	}
}

func TestCheckListenAddr(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", "127.9.8.7:0", "[::1]:8080", "localhost:80", "LOCALHOST:1"} {
		if err := server.CheckListenAddr(addr, ""); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "[::]:80", "192.168.1.2:80", "example.com:80", "localhost.example.com:80", "[::ffff:10.0.0.1]:80"} {
		err := server.CheckListenAddr(addr, "")
		if !errors.Is(err, server.ErrNeedsToken) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "BP_SERVER_TOKEN") {
			t.Errorf("%s: %v", addr, err)
		}
		if err := server.CheckListenAddr(addr, "tok"); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	if err := server.CheckListenAddr("nonsense", "tok"); err == nil {
		t.Error("an address without a port was accepted")
	}
}

func TestListBlueprints(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	a := f.expect(f.do("GET", "/v1/blueprints", ""), 200)
	var got struct {
		Blueprints []struct {
			Key, Description, Format, Source, Error string
			Valid                                   bool
			Problems                                []map[string]any
		}
		Errors []struct{ Path, Key, Error string }
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	byKey := map[string]int{}
	for i, b := range got.Blueprints {
		byKey[b.Key] = i
	}
	if len(got.Blueprints) != 3 {
		t.Fatalf("blueprints: %s", a.body)
	}
	hello := got.Blueprints[byKey["hello"]]
	if !hello.Valid || hello.Description != "Says hello" || hello.Format != "native" || !strings.HasSuffix(hello.Source, "hello.bp.yaml") {
		t.Errorf("hello: %+v", hello)
	}
	inv := got.Blueprints[byKey["invalid"]]
	if inv.Valid || len(inv.Problems) == 0 || !strings.Contains(inv.Error, "nosuchtype") {
		t.Errorf("invalid: %+v", inv)
	}
	if len(got.Errors) != 1 || got.Errors[0].Key != "broken" || !strings.HasSuffix(got.Errors[0].Path, "broken.bp.yaml") || got.Errors[0].Error == "" {
		t.Errorf("errors: %+v", got.Errors)
	}
}

func TestRunInTheBackground(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	a := f.expect(f.do("POST", "/v1/blueprints/hello/runs", `{"name": "Oslo"}`), 202)
	m := a.json(t)
	id, _ := m["run"].(string)
	if id == "" || m["status"] != "running" || a.header.Get("Location") != "/v1/runs/"+id {
		t.Fatalf("202 answer: %v %v", m, a.header)
	}
	res := f.waitRun(id)
	if res["status"] != "returned" || res["has_return"] != true || res["blueprint"] != "hello" {
		t.Fatalf("run: %v", res)
	}
	if ret, _ := res["return"].(map[string]any); ret["greeting"] != "hello Oslo" {
		t.Errorf("return: %v", res["return"])
	}
	if _, ok := res["error"]; ok {
		t.Errorf("a run that returned has an error: %v", res)
	}
	evs := f.events(id)
	if len(evs) < 4 || evs[0]["event"] != "run.started" || evs[len(evs)-1]["event"] != "run.finished" {
		t.Fatalf("events: %v", evs)
	}
	var log bool
	for _, e := range evs {
		if e["run"] != id {
			t.Errorf("event of another run: %v", e)
		}
		if e["event"] == "block.output" && strings.Contains(e["message"].(string), "hello Oslo") {
			log = true
		}
	}
	if !log {
		t.Errorf("no log line in %v", evs)
	}

	// An empty body is no payload: the trigger's default.
	a = f.expect(f.do("POST", "/v1/blueprints/hello/runs", ""), 202)
	res = f.waitRun(a.json(t)["run"].(string))
	if ret, _ := res["return"].(map[string]any); ret["greeting"] != "hello world" {
		t.Errorf("default payload: %v", res)
	}
}

func (f *fixture) events(id string) []map[string]any {
	f.t.Helper()
	a := f.expect(f.do("GET", "/v1/runs/"+id+"/events", ""), 200)
	var evs []map[string]any
	if err := json.Unmarshal([]byte(a.body), &evs); err != nil {
		f.t.Fatalf("events are not a JSON array: %v\n%s", err, a.body)
	}
	return evs
}

func TestRunWaitStreamsEvents(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	a := f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", `{"name": "Rome"}`), 200)
	if ct := a.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	evs := parseSSE(t, a.body)
	if len(evs) < 5 {
		t.Fatalf("events: %s", a.body)
	}
	if evs[0].kind != "run.started" || evs[0].data["event"] != "run.started" {
		t.Errorf("first event: %+v", evs[0])
	}
	if evs[len(evs)-2].kind != "run.finished" {
		t.Errorf("next to last: %+v", evs[len(evs)-2])
	}
	last := evs[len(evs)-1]
	if last.kind != "result" || last.data["status"] != "returned" || last.data["run"] == "" {
		t.Fatalf("last event: %+v", last)
	}
	if ret, _ := last.data["return"].(map[string]any); ret["greeting"] != "hello Rome" {
		t.Errorf("result: %v", last.data)
	}
	for _, e := range evs[:len(evs)-1] {
		if e.kind != e.data["event"] {
			t.Errorf("event line %q, data %v", e.kind, e.data["event"])
		}
	}
	// The run stays readable.
	id := last.data["run"].(string)
	if got := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); got["status"] != "returned" {
		t.Errorf("GET run: %v", got)
	}
	if n := len(f.events(id)); n != len(evs)-1 {
		t.Errorf("GET events has %d events, the stream had %d", n, len(evs)-1)
	}
}

func TestRunErrors(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/v1/blueprints/nope/runs", "", 404, "nope"},
		{"/v1/blueprints/nope/runs?wait=1", "", 404, "nope"},
		{"/v1/blueprints/hello/runs", "{not json", 400, "not valid JSON"},
		{"/v1/blueprints/hello/runs", `{"a": 1} trailing`, 400, "not valid JSON"},
		{"/v1/blueprints/hello/runs?wait=maybe", "", 400, "wait"},
		{"/v1/blueprints/hello/runs?trigger=nope", "", 400, "nope"},
		{"/v1/blueprints/invalid/runs", "", 422, "nosuchtype"},
		{"/v1/blueprints/invalid/runs?wait=1", "", 422, "nosuchtype"},
		{"/v1/blueprints/broken/runs", "", 422, "broken.bp.yaml"},
	} {
		a := f.do("POST", c.path, c.body)
		if a.status != c.status {
			t.Errorf("POST %s: %d, want %d: %s", c.path, a.status, c.status, a.body)
			continue
		}
		if a.header.Get("Content-Type") != "application/json" {
			t.Errorf("POST %s: content type %q", c.path, a.header.Get("Content-Type"))
		}
		msg, _ := a.json(t)["error"].(string)
		if !strings.Contains(msg, c.want) {
			t.Errorf("POST %s: error %q lacks %q", c.path, msg, c.want)
		}
	}
	a := f.expect(f.do("POST", "/v1/blueprints/invalid/runs", ""), 422)
	if probs, _ := a.json(t)["problems"].([]any); len(probs) == 0 {
		t.Errorf("422 without problems: %s", a.body)
	}
	f.expect(f.do("GET", "/v1/runs/no-such-run", ""), 404)
	f.expect(f.do("GET", "/v1/runs/no-such-run/events", ""), 404)
	a = f.expect(f.do("DELETE", "/v1/blueprints", ""), 405)
	if a.header.Get("Allow") == "" || a.json(t)["error"] == nil {
		t.Errorf("405: %v %s", a.header, a.body)
	}
	f.expect(f.do("GET", "/v2/nothing", ""), 404).json(t)
	// The API names runs by their full id, not a prefix.
	id := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)[0].data["run"].(string)
	f.expect(f.do("GET", "/v1/runs/"+id[:8], ""), 404)
}

func TestPayloadTooLarge(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxBody = 64 })
	large := `{"name": "` + strings.Repeat("x", 100) + `"}`
	// Declared: refused before it is read.
	f.expect(f.do("POST", "/v1/blueprints/hello/runs", large), 413)
	// Sent in chunks, its length unknown: refused once it passes the bound.
	req, _ := http.NewRequest("POST", f.url+"/v1/blueprints/hello/runs", io.MultiReader(strings.NewReader(large)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked payload past the bound: %d", resp.StatusCode)
	}
}

func TestRunsLimitAndEventsSoFar(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxRuns, o.Queue = 1, -1 })
	g := newGate(t)
	a := f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202)
	id := a.json(t)["run"].(string)
	<-g.called

	// Full, without a queue: the next run is refused.
	busy := f.do("POST", "/v1/blueprints/hello/runs", "")
	if busy.status != 429 || busy.header.Get("Retry-After") == "" {
		t.Errorf("second run: %d %v %s", busy.status, busy.header, busy.body)
	}
	// What exists so far.
	if m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); m["status"] != "running" || m["started"] == nil {
		t.Errorf("running run: %v", m)
	}
	evs := f.events(id)
	if len(evs) < 2 || evs[0]["event"] != "run.started" {
		t.Fatalf("events so far: %v", evs)
	}
	for _, e := range evs {
		if e["event"] == "run.finished" {
			t.Errorf("a running run has finished: %v", evs)
		}
	}
	g.release()
	if m := f.waitRun(id); m["status"] != "returned" {
		t.Errorf("run: %v", m)
	}
	// Its slot is free again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := f.do("POST", "/v1/blueprints/hello/runs", "")
		if a.status == 202 {
			break
		}
		if a.status != 429 || time.Now().After(deadline) {
			t.Fatalf("after the first run: %d %s", a.status, a.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOldRunsComeFromHistory(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.KeepRuns = 1 })
	first := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", `{"name": "one"}`), 200).body)
	firstID := first[len(first)-1].data["run"].(string)
	f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", `{"name": "two"}`), 200)
	// The first run is no longer in memory: history answers.
	m := f.expect(f.do("GET", "/v1/runs/"+firstID, ""), 200).json(t)
	if m["status"] != "returned" || m["run"] != firstID {
		t.Fatalf("from history: %v", m)
	}
	if ret, _ := m["return"].(map[string]any); ret["greeting"] != "hello one" {
		t.Errorf("from history: %v", m)
	}
	evs := f.events(firstID)
	if len(evs) != len(first)-1 || evs[0]["event"] != "run.started" {
		t.Errorf("events from history: %v", evs)
	}
}

func TestShutdownCancelsRuns(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	g := newGate(t)
	id := f.expect(f.do("POST", "/v1/blueprints/waiting/runs", `{"url": "`+g.url+`"}`), 202).json(t)["run"].(string)
	<-g.called
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.api.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); m["status"] != "cancelled" {
		t.Errorf("run after shutdown: %v", m)
	}
	f.expect(f.do("POST", "/v1/blueprints/hello/runs", ""), 503)
}

func TestStreamClientGoneCancelsRun(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	g := newGate(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url+"/v1/blueprints/waiting/runs?wait=1", strings.NewReader(`{"url": "`+g.url+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-g.called
	loc := resp.Header.Get("Location")
	cancel()
	resp.Body.Close()
	if m := f.waitRun(strings.TrimPrefix(loc, "/v1/runs/")); m["status"] != "cancelled" {
		t.Errorf("run of a client that went away: %v", m)
	}
}

func TestVaultEndpoints(t *testing.T) {
	f := newFixture(t, basicFiles(), withToken)
	a := f.expect(f.do("PUT", "/v1/vault/API_KEY", "first-value-1"), 204)
	if a.header.Get("X-Bp-Secret-Version") != "1" || a.header.Get("Warning") != "" || a.body != "" {
		t.Errorf("PUT: %v %q", a.header, a.body)
	}
	a = f.expect(f.do("PUT", "/v1/vault/API_KEY", "second-value-2\n"), 204)
	if a.header.Get("X-Bp-Secret-Version") != "2" {
		t.Errorf("second PUT: %v", a.header)
	}
	a = f.expect(f.do("PUT", "/v1/vault/PIN", "123"), 204)
	if w := a.header.Get("Warning"); !strings.Contains(w, "shorter than 4 bytes") {
		t.Errorf("short value, Warning %q", w)
	}
	// The value is stored byte for byte.
	v, err := vault.Open(f.vaultPath, f.key, vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Get("API_KEY")
	v.Close()
	if err != nil || string(got) != "second-value-2\n" {
		t.Errorf("stored %q, %v", got, err)
	}

	a = f.expect(f.do("GET", "/v1/vault", ""), 200)
	var list struct {
		Secrets []struct {
			Name             string
			Version          int
			Created, Updated time.Time
		}
	}
	if err := json.Unmarshal([]byte(a.body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Secrets) != 2 || list.Secrets[0].Name != "API_KEY" || list.Secrets[0].Version != 2 || list.Secrets[0].Created.IsZero() || list.Secrets[1].Name != "PIN" {
		t.Errorf("list: %s", a.body)
	}
	if strings.Contains(a.body, "value") {
		t.Errorf("list shows a value: %s", a.body)
	}

	f.expect(f.do("PUT", "/v1/vault/1bad", "value-1234"), 400)
	f.expect(f.do("PUT", "/v1/vault/bad-name", "value-1234"), 400)
	f.expect(f.do("PUT", "/v1/vault/BIG", strings.Repeat("x", vault.MaxValueSize+1)), 413)
	f.expect(f.do("DELETE", "/v1/vault/API_KEY", ""), 204)
	f.expect(f.do("DELETE", "/v1/vault/API_KEY", ""), 404)
	f.expect(f.do("DELETE", "/v1/vault/bad-name", ""), 400)
	if body := f.expect(f.do("GET", "/v1/vault", ""), 200).body; strings.Contains(body, "API_KEY") {
		t.Errorf("deleted secret still listed: %s", body)
	}
}

func TestVaultLocked(t *testing.T) {
	f := newFixture(t, basicFiles(), withToken)
	f.expect(f.do("PUT", "/v1/vault/API_KEY", "first-value-1"), 204)
	// Another process (here, this test) holds the write lock.
	v, err := vault.Open(f.vaultPath, f.key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v1/vault/API_KEY", "second-value"},
		{"DELETE", "/v1/vault/API_KEY", ""},
		{"GET", "/v1/vault", ""},
		{"POST", "/v1/blueprints/hello/runs", ""},
		{"POST", "/v1/blueprints/hello/runs?wait=1", ""},
	} {
		a := f.do(c.method, c.path, c.body)
		if a.status != 503 || !strings.Contains(a.json(t)["error"].(string), "lock") {
			t.Errorf("%s %s with the vault locked: %d %s", c.method, c.path, a.status, a.body)
		}
	}
}

func TestNoVaultWrites(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.OpenVaultRW, o.OpenVault, o.Token = nil, nil, testToken })
	f.expect(f.do("PUT", "/v1/vault/API_KEY", "first-value-1"), 503)
	f.expect(f.do("DELETE", "/v1/vault/API_KEY", ""), 503)
	f.expect(f.do("GET", "/v1/vault", ""), 503)
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	f.expect(f.do("GET", "/v1/blueprints?x=1", ""), 200)
	f.expect(f.do("GET", "/v1/runs/nope", ""), 404)
	log := f.log.String()
	if !strings.Contains(log, "method=GET path=/v1/blueprints status=200") || !strings.Contains(log, "method=GET path=/v1/runs/nope status=404") || strings.Contains(log, "x=1") {
		t.Errorf("log:\n%s", log)
	}
}

func TestEventBounds(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) {
		o.MaxEventBytes = 1
		o.History = nil // finished runs stay in memory
	})
	evs := parseSSE(t, f.expect(f.do("POST", "/v1/blueprints/hello/runs?wait=1", ""), 200).body)
	// Nothing fits: the stream says how much it lost, and still ends with
	// the result.
	dropped := 0
	for _, e := range evs[:len(evs)-1] {
		if e.kind != "dropped" {
			t.Errorf("event %s beyond the bound", e.kind)
		}
		n, _ := e.data["dropped"].(float64)
		dropped += int(n)
	}
	last := evs[len(evs)-1]
	if dropped < 5 || last.kind != "result" || last.data["status"] != "returned" {
		t.Fatalf("stream: %+v", evs)
	}
	// Memory keeps run.finished whatever the bound, and counts the rest.
	id := last.data["run"].(string)
	a := f.expect(f.do("GET", "/v1/runs/"+id+"/events", ""), 200)
	if a.header.Get("X-Bp-Dropped-Events") == "" || !strings.Contains(a.body, `"event":"run.finished"`) || strings.Contains(a.body, "run.started") {
		t.Errorf("events: %v %s", a.header, a.body)
	}
	if m := f.expect(f.do("GET", "/v1/runs/"+id, ""), 200).json(t); m["dropped_events"] == nil {
		t.Errorf("run: %v", m)
	}
}

func TestStreamFlushesAsEventsHappen(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	g := newGate(t)
	resp, err := http.Post(f.url+"/v1/blueprints/waiting/runs?wait=1", "application/json", strings.NewReader(`{"url": "`+g.url+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The run waits at the gate: what has happened so far is already
	// on the wire.
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), `"block":"call"`) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended before the run did: %v\n%s", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	if !strings.HasPrefix(seen.String(), "event: run.started\n") || strings.Contains(seen.String(), "event: result") {
		t.Fatalf("so far:\n%s", seen.String())
	}
	g.release()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, seen.String()+string(rest))
	if last := evs[len(evs)-1]; last.kind != "result" || last.data["status"] != "returned" {
		t.Errorf("last: %+v", last)
	}
}

// A replaced or deleted value's ciphertext leaves the vault file, as with
// the CLI's vault commands.
func TestVaultChangesLeaveNothingBehind(t *testing.T) {
	f := newFixture(t, basicFiles(), withToken)
	raw := func() []byte {
		t.Helper()
		db, err := bolt.Open(f.vaultPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out []byte
		db.View(func(tx *bolt.Tx) error {
			out = bytes.Clone(tx.Bucket([]byte("secrets")).Get([]byte("API_KEY")))
			return nil
		})
		if out == nil {
			t.Fatal("no record")
		}
		return out
	}
	gone := func(what string, b []byte) {
		t.Helper()
		data, err := os.ReadFile(f.vaultPath)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			t.Fatalf("%s is still in the vault file", what)
		}
	}
	f.expect(f.do("PUT", "/v1/vault/API_KEY", "first-value-1"), 204)
	first := raw()
	if a := f.expect(f.do("PUT", "/v1/vault/API_KEY", "second-value-2"), 204); a.header.Get("Warning") != "" {
		t.Fatalf("Warning %q", a.header.Get("Warning"))
	}
	gone("the replaced value's ciphertext", first)
	second := raw()
	f.expect(f.do("DELETE", "/v1/vault/API_KEY", ""), 204)
	gone("the deleted value's ciphertext", second)
}

// TestPayloadBoundedByItsValues: a payload of many small values is refused
// before it is decoded, and so is a body declared larger than the bound.
func TestPayloadBoundedByItsValues(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxPayloadValues = 1000 })
	many := "[" + strings.Repeat("[],", 1000) + "[]]"
	a := f.expect(f.do("POST", "/v1/blueprints/hello/runs", many), 413)
	if !strings.Contains(a.body, "more than 1000 JSON values") {
		t.Errorf("answer: %s", a.body)
	}
	f.expect(f.do("POST", "/v1/blueprints/hello/runs", "["+strings.Repeat("[],", 998)+"[]]"), 202)
	f.expect(f.do("POST", "/v1/blueprints/hello/runs", `{"name": "x"}}`), 400)
}

// TestAPayloadDeclaredTooLargeIsNotRead: the server answers 413 from the
// headers alone, and closes, instead of waiting for a body it would refuse.
func TestAPayloadDeclaredTooLargeIsNotRead(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxBody, o.BodyTimeout = 64, time.Minute })
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/blueprints/hello/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n{\"name\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body came: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || !resp.Close {
		t.Errorf("answer %d, close %v; want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// testToken is the bearer token of fixtures that change the vault: a
// server without one refuses to.
const testToken = "fixture-token-0123456789"

func withToken(o *server.Options) { o.Token = testToken }

// TestNoTokenNoVaultWrites: without a token, any local user could reach
// the server, so it changes no vault; reading names stays possible.
func TestNoTokenNoVaultWrites(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	for _, method := range []string{"PUT", "DELETE", "POST"} {
		a := f.expect(f.do(method, "/v1/vault/PLANTED", "value-1234"), 403)
		if !strings.Contains(a.body, "no token") {
			t.Errorf("%s: %s", method, a.body)
		}
	}
	f.expect(f.do("GET", "/v1/vault", ""), 200)
	if list := f.expect(f.do("GET", "/v1/vault", ""), 200).body; strings.Contains(list, "PLANTED") {
		t.Errorf("the vault was changed: %s", list)
	}
}

// TestTooManyValuesStopTheRead: a body past its values is refused as soon
// as they are counted, before the rest of it arrives.
func TestTooManyValuesStopTheRead(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.MaxPayloadValues, o.BodyTimeout = 1000, time.Minute })
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/blueprints/hello/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n[%s", strings.Repeat("[],", 2000))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the rest of the body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("answer %d, want 413", resp.StatusCode)
	}
}
