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

// A constant that every run would refuse is reported at load, in the words
// the run would use; a templated value is left to the run.
func TestValidateChecksConstantFields(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("consts.bp.yaml", `key: consts
blocks:
  start: {type: apitrigger, outs: {trigger: [log, call, py, st, loop, ok, typed, typed2, loop2]}}
  log: {type: logmessage, fields: {type: warn, message: hi}}
  call:
    type: httprequest
    fields: {url: "http://127.0.0.1:1/", method: "GE T", bodyType: XML, timeout: banana, maxResponseBytes: lots, insecureSkipVerify: maybe, followRedirects: often}
  py: {type: code, fields: {code: "pass", timeout: banana}}
  st: {type: setstate, fields: {element: x, value: "1", valueType: XML}}
  loop: {type: foreach, fields: {items: "[1]", parallel: two}}
  typed:
    type: httprequest
    fields: {url: "http://127.0.0.1:1/", timeout: [1], retry: {attempts: 0}, headers: [a], maxResponseBytes: {a: 1}}
  typed2: {type: httprequest, fields: {url: [x], timeout: {a: 1}, retry: 700, insecureSkipVerify: [true]}}
  loop2: {type: foreach, fields: {items: "{not json", parallel: [2]}}
  ok:
    type: httprequest
    fields: {url: "http://127.0.0.1:1/", timeout: "@{payload.t}", method: post, bodyType: json, followRedirects: 3, retry: 7, headers: {A: "@{payload.a}"}, mask: [body.token]}
`)
	r := env.run("", "validate", path)
	if r.code != 2 {
		t.Fatalf("want exit 2: %v", r)
	}
	for _, want := range []string{
		`log: type: "warn" is neither info nor error`,
		`call: method: "GE T" is not an HTTP method`,
		`call: bodyType: "XML" is neither text nor JSON`,
		`call: timeout: banana is not a duration`,
		`call: maxResponseBytes: lots is not a size`,
		`call: insecureSkipVerify: maybe is not true or false`,
		`call: followRedirects: often is not true, false or a number`,
		`py: timeout: banana is not a duration`,
		`st: valueType: "XML" is neither text nor JSON`,
		`loop: parallel: two is not an integer`,
		`typed: timeout: [1] is not a duration`,
		`typed: retry: attempts: 0 is not a number from 1 to 100`,
		`typed: headers: expected an object, found a list`,
		`typed: maxResponseBytes: map[a:1] is not a size`,
		`typed2: url: expected text, a number or true or false, found a list`,
		`typed2: timeout: map[a:1] is not a duration`,
		`typed2: retry: attempts: 700 is not a number from 1 to 100`,
		`typed2: insecureSkipVerify: [true] is not true or false`,
		`loop2: items: not valid JSON`,
		`loop2: parallel: [2] is not an integer`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ok:") {
		t.Errorf("a valid or templated value was reported:\n%s", r.stdout)
	}
}
