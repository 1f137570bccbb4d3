package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
)

const (
	baoSecret = `bao-S3cr3t/+"&<x>`
	baoToken  = "s.bao-tok-91c2"
)

// bp run --secrets reads the run's secrets from a KV v2 server (an
// httptest server speaking its API), masks them in every output, and
// keeps the token from code blocks.
func TestRunReadsSecretsFromOpenBao(t *testing.T) {
	reads := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Vault-Token") != baoToken || r.URL.Path != "/v1/kv/data/bp" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors": ["permission denied"]}`)
			return
		}
		reads++
		fmt.Fprintf(w, `{"data": {"data": {"API_KEY": %q}, "metadata": {"version": 1}}}`, baoSecret)
	}))
	defer srv.Close()
	env := newBPEnv(t).with("BAO_TOKEN=" + baoToken)
	path := env.write("bao.bp.yaml", `
key: bao
vault: [API_KEY]
blocks:
  start: {type: apitrigger, outs: {trigger: py}}
  py:
    type: code
    fields:
      code: |
        import os
        print("key", vault["API_KEY"], "token", os.environ.get("BAO_TOKEN", "unset"), os.environ.get("VAULT_TOKEN", "unset"))
        set_output(vault["API_KEY"])
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	url := "openbao+http://" + strings.TrimPrefix(srv.URL, "http://") + "/kv/bp"
	r := env.run("", "run", path, "--secrets", url, "--no-history")
	if r.code != 0 || strings.TrimSpace(r.stdout) != `"***"` || !strings.Contains(r.stderr, "key *** token unset unset") {
		t.Fatalf("%v", r)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if f, ok := leaktest.Find(out, baoSecret, baoToken); ok {
			t.Errorf("output holds %q:\n%s", f, out)
		}
	}
	if reads != 1 {
		t.Errorf("%d reads", reads)
	}
	r = env.with("BAO_TOKEN=wrong").run("", "run", path, "--secrets", url, "--no-history")
	if r.code == 0 || !strings.Contains(r.stderr, "permission denied") || strings.Contains(r.stderr, "wrong") {
		t.Errorf("a refused token: %v", r)
	}
}
