package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestServeSeesEveryVaultChange: bp serve keeps the vault between runs, and
// the next run sees a secret changed by bp vault set in another process
// and one changed through the API, with and without a vault: list.
func TestServeSeesEveryVaultChange(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := newBPEnv(t).with("BP_VAULT_KEY=" + base64.StdEncoding.EncodeToString(key))
	// Whether the run saw S equal to the payload: a test can tell which
	// value it saw without a run printing it.
	env.write("flows/listed.bp.yaml", "key: listed\nvault: [S]\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.S == payload}\"}}\n")
	env.write("flows/unlisted.bp.yaml", "key: unlisted\nblocks:\n  r: {type: returnvalue, fields: {value: \"@{vault.S == payload}\"}}\n")
	if r := env.run("first-value-1", "vault", "set", "S"); r.code != 0 {
		t.Fatal(r)
	}
	p := startServe(t, env, "cache-token-0123456789", "--dir", "flows", "--no-history")
	sees := func(value string) {
		t.Helper()
		for _, bp := range []string{"listed", "unlisted"} {
			payload, _ := json.Marshal(value)
			code, _, body := p.call("POST", "/v1/blueprints/"+bp+"/runs?wait=1", string(payload), true)
			frames := strings.Split(strings.TrimSpace(body), "\n\n")
			var res struct {
				Status string
				Return any
			}
			_ = json.Unmarshal([]byte(strings.TrimPrefix(frames[len(frames)-1], "event: result\ndata: ")), &res)
			if code != 200 || res.Status != "returned" || res.Return != true {
				t.Fatalf("%s does not see S = %q: %d %+v\n%s\n%s", bp, value, code, res, body, p.stderr.String())
			}
		}
	}
	sees("first-value-1")
	sees("first-value-1")
	if r := env.run("second-value-22", "vault", "set", "S"); r.code != 0 {
		t.Fatal(r)
	}
	sees("second-value-22")
	if code, _, body := p.call("PUT", "/v1/vault/S", "third-value-333", true); code != 204 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	sees("third-value-333")
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.stderr.String())
	}
}
