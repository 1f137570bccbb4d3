package bptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVaultTemplatesInMatchers sends a secret with awkward characters in
// every place a request has (path, query, headers, a JSON body, a form
// body), and matches each with @{vault.NAME} templates, not copies.
func TestVaultTemplatesInMatchers(t *testing.T) {
	const tricky = `tr1cky/+&"s3cret ?#=%`
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"send.bp.yaml": `vault: [TOKEN, PASS]
blocks:
  start: {type: apitrigger, outs: {trigger: json}}
  json:
    type: httprequest
    fields:
      method: POST
      url: "http://api.test/keys/@{urlPath(vault.TOKEN)}?token=@{urlQuery(vault.TOKEN)}&page=2"
      headers: {Authorization: "Bearer @{vault.TOKEN}", X-Login: "Basic @{toBase64('alice:' + vault.PASS)}"}
      bodyType: JSON
      body: {token: "@{vault.TOKEN}", n: 1}
    outs: {success: form}
  form:
    type: httprequest
    fields:
      method: POST
      url: "http://api.test/form"
      headers: {Content-Type: application/x-www-form-urlencoded}
      body: "user=alice&pass=@{urlQuery(vault.PASS)}"
    outs: {success: done}
  done: {type: returnvalue, fields: {value: ["@{results.json.body}", "@{results.form.headers.X-Echo}"]}}
`,
		"testdata/send/case.yaml": `vault:
  TOKEN: '` + tricky + `'
  PASS: pa55-w0rd-f4ke
http:
  - request:
      method: POST
      url: "http://api.test/keys/@{vault.TOKEN}?page=2&token=@{vault.TOKEN}"
      headers:
        Authorization: "Bearer @{vault.TOKEN}"
        X-Login: "Basic @{toBase64(\"alice:\" + vault.PASS)}"
      body: {token: "@{vault.TOKEN}", n: 1}
    response: {body: {ok: "@{vault.TOKEN} \\@{literal}"}}
  - request:
      method: POST
      url: http://api.test/form
      body: "user=alice&pass=@{urlQuery(vault.PASS)}"
    response: {headers: {X-Echo: "@{vault.PASS}"}}
`,
	})
	r := one(t, runCases(t, dir, Options{Update: true}))
	if !r.Passed {
		t.Fatalf("%+v", r)
	}
	golden := readGolden(t, dir, "send")
	if !strings.Contains(golden, `"ok": "*** @{literal}"`) || !strings.Contains(golden, `"***"`) {
		t.Errorf("golden:\n%s", golden)
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, c := range []struct{ exchange, want string }{
		{`{request: {url: "http://a.test/@{vault.NOPE}"}}`, "http[0]: request: url: @{vault.NOPE}: the case's vault has no secret NOPE"},
		{`{request: {url: "http://a.test/", headers: {X: "@{vault.K"}}}`, "http[0]: request: headers: X: @{ without its closing }"},
		{`{request: {url: "http://a.test/", body: {a: "@{vault.K +}"}}}`, "http[0]: request: body: a: @{vault.K +}"},
		{`{request: {url: "http://a.test/"}, response: {body: "@{vault[\"NOPE\"]}"}}`, "has no value"},
	} {
		dir := t.TempDir()
		write(t, dir, map[string]string{
			"x.bp.yaml":            "blocks:\n  r: {type: returnvalue, fields: {value: 1}}\n",
			"testdata/x/case.yaml": "vault: {K: fake-k3y-value}\nhttp:\n  - " + c.exchange + "\n",
		})
		r := one(t, runCases(t, dir, Options{}))
		if r.Err == nil || !strings.Contains(r.Err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.exchange, r.Err, c.want)
		}
	}
}

func TestTemplateText(t *testing.T) {
	vault := fakeVault{"K": "a b/c"}
	for _, c := range []struct{ in, text, url string }{
		{"plain", "plain", "plain"},
		{"x @{vault.K} y", "x a b/c y", "x a%20b%2Fc y"},
		{"/p/@{vault.K}?q=@{vault.K}", "/p/a b/c?q=a b/c", "/p/a%20b%2Fc?q=a+b%2Fc"},
		{`\@{vault.K}`, "@{vault.K}", "@{vault.K}"},
		{`@{ "}" + vault.K }`, "}a b/c", "%7Da%20b%2Fc"},
		{`@{toBase64(vault.K)}`, "YSBiL2M=", "YSBiL2M="},
		{`@{toJSON(vault.K)}`, `"a b/c"`, "%22a%20b%2Fc%22"},
	} {
		got, err := expandText(c.in, vault)
		if err != nil || got != c.text {
			t.Errorf("text %q: %q, %v; want %q", c.in, got, err, c.text)
		}
		got, err = expandURL(c.in, vault)
		if err != nil || got != c.url {
			t.Errorf("url %q: %q, %v; want %q", c.in, got, err, c.url)
		}
	}
}

func readGolden(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "testdata", name, GoldenFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
