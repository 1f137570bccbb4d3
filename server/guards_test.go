package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/server"
	"github.com/bprun/bp/vault"
)

// TestEveryEndpointNeedsTheToken sends each endpoint, whatever its method,
// without the token and with wrong ones: each is refused, and nothing
// changes (the vault keeps its secret, no run starts).
func TestEveryEndpointNeedsTheToken(t *testing.T) {
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.Token = "s3cret-token-value" })
	f.expect(f.do("PUT", "/v1/vault/KEEP_ME", "kept-value-1"), 204)

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/blueprints", ""},
		{"POST", "/v1/blueprints/hello/runs", ""},
		{"POST", "/v1/blueprints/hello/runs?wait=1", ""},
		{"GET", "/v1/runs/x", ""},
		{"GET", "/v1/runs/x/events", ""},
		{"GET", "/v1/vault", ""},
		{"PUT", "/v1/vault/KEEP_ME", "overwritten"},
		{"PUT", "/v1/vault/NEW_ONE", "planted-value"},
		{"DELETE", "/v1/vault/KEEP_ME", ""},
	} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-token-valuX", "s3cret-token-value", "Basic czNjcmV0"} {
			a := f.doWith(c.method, c.path, c.body, func(r *http.Request) {
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
			})
			if a.status != 401 {
				t.Errorf("%s %s with %q: %d, want 401: %s", c.method, c.path, auth, a.status, a.body)
			}
		}
	}

	v, err := vault.Open(f.vaultPath, f.key, vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got, err := v.Get("KEEP_ME"); err != nil || string(got) != "kept-value-1" {
		t.Errorf("KEEP_ME after the refused requests: %q, %v", got, err)
	}
	if names, err := v.List(); err != nil || len(names) != 1 {
		t.Errorf("the vault holds %v, %v", names, err)
	}
	if runs, err := f.history.List(context.Background(), 10); err != nil || len(runs) != 0 {
		t.Errorf("refused requests ran %d blueprints (%v)", len(runs), err)
	}
}

// TestNoTokenRefusesEveryMethodFromOtherHosts is the same without a token:
// a request addressed to another host (DNS rebinding) is refused, whatever
// its method.
func TestNoTokenRefusesEveryMethodFromOtherHosts(t *testing.T) {
	f := newFixture(t, basicFiles(), nil)
	// Set directly: a server without a token changes no vault.
	v, err := vault.Open(f.vaultPath, f.key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Set("KEEP_ME", []byte("kept-value-1")); err != nil {
		t.Fatal(err)
	}
	v.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/vault"},
		{"POST", "/v1/blueprints/hello/runs"},
		{"PUT", "/v1/vault/KEEP_ME"},
		{"DELETE", "/v1/vault/KEEP_ME"},
	} {
		a := f.doWith(c.method, c.path, "overwritten", func(r *http.Request) { r.Host = "attacker.example:8080" })
		if a.status != 403 {
			t.Errorf("%s %s to another host: %d, want 403: %s", c.method, c.path, a.status, a.body)
		}
	}
	if body := f.expect(f.do("GET", "/v1/vault", ""), 200).body; !strings.Contains(body, "KEEP_ME") {
		t.Errorf("KEEP_ME is gone: %s", body)
	}
}

// TestErrorAnswersMaskASecretWithAQuote puts secrets holding a '"' (the
// server's token, a value set through the API) where an error answer
// quotes them with Go's %q: the quoted form, JSON-escaped on top, is a
// form no byte-level pass over the encoded answer knows.
func TestErrorAnswersMaskASecretWithAQuote(t *testing.T) {
	const token, value = `tok"en-secret-1`, `va"lue-secret-2`
	f := newFixture(t, basicFiles(), func(o *server.Options) { o.Token = token })
	f.expect(f.do("PUT", "/v1/vault/QUOTED", value), 204)
	for _, secret := range []string{token, value} {
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{"POST", "/v1/blueprints/hello/runs?trigger=" + url.QueryEscape(secret), 400},
			{"POST", "/v1/blueprints/hello/runs?wait=1&trigger=" + url.QueryEscape(secret), 400},
			{"POST", "/v1/blueprints/" + url.PathEscape(secret) + "/runs", 404},
			{"GET", "/v1/runs/" + url.PathEscape(secret), 404},
		} {
			a := f.expect(f.do(c.method, c.path, ""), c.status)
			msg, _ := a.json(t)["error"].(string)
			if !strings.Contains(msg, "***") {
				t.Errorf("%s %s: error %q does not show the secret masked", c.method, c.path, msg)
			}
			for _, text := range []string{a.body, msg} {
				if form, ok := leaktest.Find(text, token, value); ok {
					t.Errorf("%s %s: the answer holds a secret as %q: %s", c.method, c.path, form, a.body)
				}
			}
		}
	}
}
