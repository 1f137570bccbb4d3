package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVaultAuditShowsWhichRunsReadASecret(t *testing.T) {
	env := newBPEnv(t)
	const value = "audit-value-8f2c1d"
	if r := env.run("", "vault", "init"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, name := range []string{"TOKEN", "UNUSED"} {
		if r := env.run(value+name, "vault", "set", name); r.code != 0 {
			t.Fatalf("%v", r)
		}
	}
	path := env.write("reads.bp.yaml", `
vault: [TOKEN]
blocks:
  first: {type: logmessage, fields: {message: "t=@{vault.TOKEN}"}, outs: {success: second}}
  second: {type: code, fields: {code: "x = len(vault['TOKEN'])"}}
`)
	r := env.run("", "run", path, "--log", "json")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var started map[string]any
	_ = json.Unmarshal([]byte(strings.SplitN(r.stderr, "\n", 2)[0]), &started)
	runID, _ := started["run"].(string)

	a := env.run("", "vault", "audit", "TOKEN", "--json")
	if a.code != 0 {
		t.Fatalf("%v", a)
	}
	var records []map[string]any
	if err := json.Unmarshal([]byte(a.stdout), &records); err != nil {
		t.Fatalf("%v\n%v", err, a)
	}
	blocks := map[string]bool{}
	for _, rec := range records {
		if rec["secret"] != "TOKEN" || rec["run"] != runID || rec["blueprint"] != "reads" {
			t.Errorf("record %v", rec)
		}
		blocks[rec["block"].(string)] = true
	}
	if !blocks["first"] || !blocks["second"] || len(blocks) != 2 {
		t.Errorf("audit names blocks %v, want first and second", blocks)
	}
	if all := env.run("", "vault", "audit"); strings.Contains(all.stdout, "UNUSED") || !strings.Contains(all.stdout, "TOKEN") {
		t.Errorf("audit of all secrets: %v", all)
	}
	for _, out := range []string{a.stdout, a.stderr, r.stdout, r.stderr} {
		if strings.Contains(out, value) {
			t.Errorf("a value shows:\n%s", out)
		}
	}
	if bad := env.run("", "vault", "audit", "no-such name"); bad.code != 2 {
		t.Errorf("invalid name: %v", bad)
	}
}
