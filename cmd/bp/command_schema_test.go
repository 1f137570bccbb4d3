package main

import (
	"os"
	"testing"
)

// bp schema prints the schema committed in the repository, which editors
// can point at.
func TestSchemaPrintsTheCommittedSchema(t *testing.T) {
	r := newBPEnv(t).run("", "schema")
	if r.code != 0 {
		t.Fatal(r)
	}
	want, err := os.ReadFile("../../schema/blueprint.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Fatalf("bp schema differs from schema/blueprint.schema.json (go test ./schema -update)\n%s", r.stdout)
	}
}
