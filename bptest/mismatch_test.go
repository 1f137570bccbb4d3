package bptest

import (
	"strings"
	"testing"
)

// TestMismatchSaysWhy sends requests that each differ from one recorded
// exchange in one way: the failure names the exchange and the difference.
func TestMismatchSaysWhy(t *testing.T) {
	const bp = `vault: [API_KEY]
blocks:
  send:
    type: httprequest
    fields:
      method: POST
      url: "http://api.test/items?page=2&sort=@{payload.sort}"
      headers: {Authorization: "Bearer @{vault.API_KEY}", X-Mode: "@{payload.mode}"}
      bodyType: JSON
      body: {user: {name: "@{payload.name}", tags: [a, b]}, n: 1}
`
	const recorded = `  - request:
      method: POST
      url: "http://api.test/items?page=2&sort=asc"
      headers: {Authorization: "Bearer @{vault.API_KEY}", X-Mode: fast}
      body: {user: {name: alice, tags: [a, b]}, n: 1}
    response: {status: 201}
`
	for _, c := range []struct {
		name, payload, exchange string
		want                    []string
	}{
		{"one JSON field", `{sort: asc, mode: fast, name: bob}`, recorded,
			[]string{`closest: http[0] POST http://api.test/items?page=2&sort=asc: body field user.name: recorded "alice", sent "bob"`}},
		{"a query parameter", `{sort: desc, mode: fast, name: alice}`, recorded,
			[]string{`query sort: recorded "asc", sent "desc"`}},
		{"a header", `{sort: asc, mode: slow, name: alice}`, recorded,
			[]string{`header X-Mode: recorded "fast", sent "slow"`}},
		{"the secret in a header", `{sort: asc, mode: fast, name: alice}`, strings.Replace(recorded, "Bearer @{vault.API_KEY}", "Bearer other-key-value", 1),
			[]string{`header Authorization: recorded "Bearer other-key-value", sent "Bearer ***"`}},
		{"the method", `{sort: asc, mode: fast, name: alice}`, strings.Replace(recorded, "method: POST", "method: PUT", 1),
			[]string{`method: recorded PUT, sent POST`}},
		{"a text body", `{sort: asc, mode: fast, name: alice}`, strings.Replace(recorded, "body: {user: {name: alice, tags: [a, b]}, n: 1}", `body: '{"n":1,"user":{"name":"alice","tags":["a","c"]}}'`, 1),
			[]string{`body: differs at byte 43: recorded "…e\":\"alice\",\"tags\":[\"a\",\"c\"]}}", sent "…e\":\"alice\",\"tags\":[\"a\",\"b\"]}}"`}},
		{"a list", `{sort: asc, mode: fast, name: alice}`, strings.Replace(recorded, "tags: [a, b]", "tags: [a]", 1),
			[]string{`body field user.tags: recorded 1 items, sent 2`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{
				"send.bp.yaml":            bp,
				"testdata/send/case.yaml": "payload: " + c.payload + "\nvault: {API_KEY: " + secret + "}\nhttp:\n" + c.exchange,
			})
			r := one(t, runCases(t, dir, Options{}))
			if r.Err == nil {
				t.Fatalf("passed: %+v", r)
			}
			msg := r.Err.Error()
			for _, want := range append(c.want, "unmatched HTTP request: POST http://api.test/items?") {
				if !strings.Contains(msg, want) {
					t.Errorf("the failure lacks %s:\n%s", want, msg)
				}
			}
			noSecret(t, r)
		})
	}
}

// TestMismatchOfAUsedUpExchange requests one exchange twice.
func TestMismatchOfAUsedUpExchange(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"twice.bp.yaml": `blocks:
  a: {type: httprequest, fields: {url: "http://api.test/x"}, outs: {success: b}}
  b: {type: httprequest, fields: {url: "http://api.test/x"}}
`,
		"testdata/twice/case.yaml": "http:\n  - request: {url: http://api.test/x}\n",
	})
	r := one(t, runCases(t, dir, Options{}))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "closest: http[0] GET http://api.test/x (already used): it matches, and was used up") {
		t.Fatalf("%+v", r)
	}
}
