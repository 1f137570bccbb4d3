package main

import (
	"strings"
	"testing"
)

func TestValidateReportsAllProblems(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("bad.bp.yaml", `key: bad
blocks:
  start:
    type: apitrigger
    outs: {trigger: [a, ghost]}
  a:
    type: setstate
    fields:
      value: "@{payload"
      colour: red
  b:
    type: nosuchtype
`)
	r := env.run("", "validate", path)
	if r.code != 2 {
		t.Fatalf("want exit 2: %v", r)
	}
	for _, want := range []string{
		"bad.bp.yaml:5:", `start: outs: edge trigger leads to block "ghost"`,
		"bad.bp.yaml:9:", "a: value: column 1: @{ has no closing }",
		"a: colour: unknown field", "a: element: required field is missing",
		"b: type nosuchtype is not supported",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	good := env.write("good.bp.yaml", `blocks: {r: {type: returnvalue, fields: {value: ok}}}`)
	if r := env.run("", "validate", good); r.code != 0 || !strings.Contains(r.stdout, "1 blueprint(s) valid") {
		t.Errorf("good: %v", r)
	}
}

func TestValidateNamesUnsupportedWriterBlocks(t *testing.T) {
	dir := corpus(t)
	env := newBPEnv(t)
	r := env.run("", "validate", dir+"/apps_hello")
	if r.code != 2 || !strings.Contains(r.stdout, "type blueprints_writercompletion is not supported") {
		t.Errorf("%v", r)
	}
}
