package blueprints

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bprun/bp/engine"
)

// weather is SPEC 2.1's example.
const weather = `key: weather                 # unique name; defaults to the file name
description: Current temperature for a city
vault: [WEATHER_KEY]
blocks:
  start:
    type: apitrigger
    fields: {defaultResult: {city: Paris}}
    outs: {trigger: call}
  call:
    type: httprequest
    fields:
      method: GET
      url: "http://127.0.0.1:8080/weather?q=@{payload.city}"
      headers: {Authorization: "Bearer @{vault.WEATHER_KEY}"}
      timeout: 10s                        # extension
      retry: {attempts: 3, backoff: 200ms} # extension
    outs: {success: shape, responseError: fail, connectionError: fail}
  shape:
    type: code
    fields:
      code: |
        set_output({"temp": result["body"]["temp"], "has_key": "WEATHER_KEY" in vault})
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result}"}}
  fail: {type: logmessage, fields: {type: error, message: "HTTP failed: @{message}"}}
`

func mustParse(t *testing.T, name, src string) *engine.Blueprint {
	t.Helper()
	bp, err := ParseNative(name, []byte(src))
	if err != nil {
		t.Fatalf("ParseNative: %v", err)
	}
	return bp
}

func problems(bp *engine.Blueprint) string {
	var s []string
	for _, p := range bp.LoadErrors {
		s = append(s, p.Error())
	}
	return strings.Join(s, "\n")
}

func TestNativeSpecExample(t *testing.T) {
	bp := mustParse(t, "dir/weather.bp.yaml", weather)
	if len(bp.LoadErrors) > 0 {
		t.Fatalf("problems:\n%s", problems(bp))
	}
	if bp.Key != "weather" || bp.Description != "Current temperature for a city" || bp.Format != engine.FormatNative || bp.Source != "dir/weather.bp.yaml" {
		t.Errorf("blueprint %+v", bp)
	}
	if !reflect.DeepEqual(bp.Vault, []string{"WEATHER_KEY"}) || bp.Env != nil {
		t.Errorf("vault %v env %v", bp.Vault, bp.Env)
	}
	var ids []string
	for _, b := range bp.Blocks {
		ids = append(ids, b.ID)
	}
	if got := strings.Join(ids, " "); got != "start call shape done fail" {
		t.Errorf("block order %s", got)
	}
	call := bp.Block("call")
	wantFields := map[string]any{
		"method":  "GET",
		"url":     "http://127.0.0.1:8080/weather?q=@{payload.city}",
		"headers": map[string]any{"Authorization": "Bearer @{vault.WEATHER_KEY}"},
		"timeout": "10s",
		"retry":   map[string]any{"attempts": 3, "backoff": "200ms"},
	}
	if !reflect.DeepEqual(call.Fields, wantFields) {
		t.Errorf("call fields = %#v", call.Fields)
	}
	if call.Pos != (engine.Pos{File: "dir/weather.bp.yaml", Line: 9, Column: 3}) {
		t.Errorf("call pos = %v", call.Pos)
	}
	// Inside the quotes, where the template's text starts.
	if p := call.FieldPos["url"]; p.Line != 13 || p.Column != 13 {
		t.Errorf("url pos = %v", p)
	}
	if p := call.FieldPos["retry"]; p.Line != 16 || p.Column != 14 {
		t.Errorf("retry pos = %v", p)
	}
	wantOuts := []engine.Edge{
		{Outcome: "success", To: "shape", Pos: engine.Pos{File: "dir/weather.bp.yaml", Line: 17, Column: 21}},
		{Outcome: "responseError", To: "fail", Pos: engine.Pos{File: "dir/weather.bp.yaml", Line: 17, Column: 43}},
		{Outcome: "connectionError", To: "fail", Pos: engine.Pos{File: "dir/weather.bp.yaml", Line: 17, Column: 66}},
	}
	if !reflect.DeepEqual(call.Outs, wantOuts) {
		t.Errorf("outs = %+v", call.Outs)
	}
	code, _ := bp.Block("shape").Fields["code"].(string)
	if !strings.HasPrefix(code, "set_output(") || !strings.HasSuffix(code, "in vault})\n") {
		t.Errorf("code = %q", code)
	}
	if p := bp.Block("shape").FieldPos["code"]; p.Line != 21 {
		t.Errorf("code pos = %v", p)
	}
	if got := bp.Block("start").Fields["defaultResult"]; !reflect.DeepEqual(got, map[string]any{"city": "Paris"}) {
		t.Errorf("defaultResult = %#v", got)
	}
}

func TestNativeValues(t *testing.T) {
	bp := mustParse(t, "v.bp.yaml", `
blocks:
  a:
    type: blueprints_setstate
    alias: Set it
    description: documentation only
    fields:
      int: 42
      neg: -7
      float: 2.5
      bool: true
      null: null
      empty:
      str: "42"
      forced: !!str 12
      list: [1, "two", {three: 3}]
      anchored: &base {x: 1, y: 2}
      alias: *base
      merged: {<<: *base, y: 3}
      big: 18446744073709551615
`)
	if len(bp.LoadErrors) > 0 {
		t.Fatalf("problems:\n%s", problems(bp))
	}
	a := bp.Blocks[0]
	if a.Type != "setstate" || a.Alias != "Set it" {
		t.Errorf("type %q alias %q", a.Type, a.Alias)
	}
	want := map[string]any{
		"int": 42, "neg": -7, "float": 2.5, "bool": true, "null": nil, "empty": nil,
		"str": "42", "forced": "12",
		"list":     []any{1, "two", map[string]any{"three": 3}},
		"anchored": map[string]any{"x": 1, "y": 2},
		"alias":    map[string]any{"x": 1, "y": 2},
		"merged":   map[string]any{"x": 1, "y": 3},
		"big":      float64(18446744073709551615),
	}
	if !reflect.DeepEqual(a.Fields, want) {
		t.Errorf("fields:\n got %#v\nwant %#v", a.Fields, want)
	}
	for k := range want {
		if a.FieldPos[k].Line == 0 {
			t.Errorf("no position for field %s", k)
		}
	}
	if p := a.FieldPos["empty"]; p.Line != 13 {
		t.Errorf("empty field pos = %v (want its key's line)", p)
	}
}

func TestNativeOuts(t *testing.T) {
	bp := mustParse(t, "o.bp.yaml", `
blocks:
  a:
    type: ifelse
    outs:
      true: b
      false: [b, c]
      error:
        - c
        - c
  b: {type: returnvalue}
  c: {type: returnvalue, outs: {}}
  d: {type: returnvalue, outs: }
`)
	if len(bp.LoadErrors) > 0 {
		t.Fatalf("problems:\n%s", problems(bp))
	}
	var got []string
	for _, e := range bp.Blocks[0].Outs {
		got = append(got, e.Outcome+"→"+e.To+"@"+e.Pos.String())
	}
	want := "true→b@o.bp.yaml:6:13 false→b@o.bp.yaml:7:15 false→c@o.bp.yaml:7:18 error→c@o.bp.yaml:9:11 error→c@o.bp.yaml:10:11"
	if strings.Join(got, " ") != want {
		t.Errorf("edges:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if bp.Blocks[2].Outs != nil || bp.Blocks[3].Outs != nil {
		t.Errorf("empty outs: %v %v", bp.Blocks[2].Outs, bp.Blocks[3].Outs)
	}
}

func TestNativeVaultAndKey(t *testing.T) {
	cases := []struct {
		name, src string
		key       string
		vault     []string
		env       []string
	}{
		{"absent.bp.yaml", "blocks: {}", "absent", nil, nil},
		{"empty.bp.yml", "vault: []\nenv: []\nblocks: {}", "empty", []string{}, []string{}},
		{"bare.bp.json", "vault:\nblocks: {}", "bare", []string{}, nil},
		{"x/y/listed.bp.yaml", "vault: [A, B_2]\nenv: [HOME]\nblocks: {}", "listed", []string{"A", "B_2"}, []string{"HOME"}},
		{"named.bp.yaml", "key: other\nblocks: {}", "other", nil, nil},
		{"plain.yaml", "blocks: {}", "plain", nil, nil},
		{"bom.bp.yaml", "\ufeffblocks: {}", "bom", nil, nil},
		{"tabs.bp.json", "{\n\t\"blocks\": {\n\t\t\"a\": {\"type\": \"x\"}\r\n\t}\n}\n", "tabs", nil, nil},
		{"j.bp.json", `{"key": "json", "vault": ["S"], "blocks": {"a": {"type": "returnvalue", "fields": {"value": 1}}}}`, "json", []string{"S"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bp := mustParse(t, c.name, c.src)
			if len(bp.LoadErrors) > 0 {
				t.Fatalf("problems:\n%s", problems(bp))
			}
			if bp.Key != c.key {
				t.Errorf("key %q, want %q", bp.Key, c.key)
			}
			if !reflect.DeepEqual(bp.Vault, c.vault) || (bp.Vault == nil) != (c.vault == nil) {
				t.Errorf("vault %#v, want %#v", bp.Vault, c.vault)
			}
			if !reflect.DeepEqual(bp.Env, c.env) {
				t.Errorf("env %#v, want %#v", bp.Env, c.env)
			}
		})
	}
}

func TestNativeProblems(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // each must be one of the problems, in this order
	}{
		{"duplicate block id", `
blocks:
  a: {type: returnvalue}
  b: {type: returnvalue}
  a: {type: logmessage}
`, []string{`f.bp.yaml:5:3: a: duplicate block id "a" (first defined at f.bp.yaml:3:3)`}},
		{"unknown keys", `
key: k
blokcs: {}
blocks:
  a:
    type: returnvalue
    feilds: {value: 1}
`, []string{
			`f.bp.yaml:3:1: unknown key "blokcs" (a blueprint has key, description, vault, env, blocks)`,
			`f.bp.yaml:7:5: a: unknown key "feilds" (a block has type, alias, description, fields, outs)`,
		}},
		{"scalar where a mapping is expected", `
blocks:
  a: returnvalue
  b:
  c: {type: returnvalue, fields: [1, 2], outs: x}
`, []string{
			`f.bp.yaml:3:6: a: a block must be a mapping with type, fields and outs, found a string`,
			`f.bp.yaml:4:3: b: a block must be a mapping with type, fields and outs, found null`,
			`f.bp.yaml:5:34: c: fields: expected a mapping of field names to values, found a list`,
			`f.bp.yaml:5:48: c: outs: expected a mapping of outcomes to block ids, found a string`,
		}},
		{"blocks not a mapping", "blocks: [a, b]\n", []string{
			`f.bp.yaml:1:9: blocks: expected a mapping of block ids to blocks, found a list`,
		}},
		{"top level not a mapping", "- a\n- b\n", []string{
			`f.bp.yaml:1:1: a blueprint must be a mapping with key, description and blocks, found a list`,
		}},
		{"no blocks", "key: k\n", []string{`f.bp.yaml:1:1: the blueprint has no blocks: key`}},
		{"empty file", "# nothing\n", []string{`f.bp.yaml: the file is empty`}},
		{"missing and bad type", `
blocks:
  a: {fields: {}}
  b: {type: [x]}
`, []string{
			`f.bp.yaml:4:13: b: type: the type must be a block type name, found a list`,
		}},
		{"bad outs targets", `
blocks:
  a:
    type: ifelse
    outs:
      true: [b, {x: 1}, null]
      false:
      error: b
      error: c
  b: {type: returnvalue}
`, []string{
			`f.bp.yaml:6:17: a: outs.true: expected a block id, found a mapping`,
			`f.bp.yaml:6:25: a: outs.true: expected a block id, found null`,
			`f.bp.yaml:7:7: a: outs.false: expected a block id or a list of block ids, found null`,
			`f.bp.yaml:9:7: a: outs: duplicate outcome "error" (first at line 8)`,
		}},
		{"duplicate fields and keys", `
key: a
key: b
blocks:
  a:
    type: setstate
    type: logmessage
    fields:
      value: 1
      value: 2
      obj: {x: 1, x: 2}
`, []string{
			`f.bp.yaml:3:1: key: duplicate key "key" (first at line 2)`,
			`f.bp.yaml:7:5: a: type: duplicate key "type" (first at line 6)`,
			`f.bp.yaml:10:7: a: value: duplicate field "value" (first at line 9)`,
			`f.bp.yaml:11:19: a: obj: duplicate key "x" (first at line 11)`,
		}},
		{"vault names", `
vault: [GOOD, "bad-name", 1X, {a: b}]
env: HOME
blocks: {}
`, []string{
			`f.bp.yaml:2:15: vault: "bad-name" is not a valid secret name`,
			`f.bp.yaml:2:27: vault: "1X" is not a valid secret name`,
			`f.bp.yaml:2:31: vault: expected a secret name, found a mapping`,
			`f.bp.yaml:3:6: env: expected a list of environment variable names, found a string`,
		}},
		{"bad key and description", "key: [x]\ndescription: {a: 1}\nblocks: {}\n", []string{
			`f.bp.yaml:1:6: key: the key must be a non-empty string, found a list`,
			`f.bp.yaml:2:14: description: expected a string, found a mapping`,
		}},
		{"recursive alias", "blocks:\n  a: {type: setstate, fields: {value: &x [1, *x]}}\n", []string{
			`f.bp.yaml:2:46: a: value: alias *x refers to a value that contains it`,
		}},
		{"two documents", "blocks: {}\n---\nkey: x\n", []string{
			`f.bp.yaml:3:1: a blueprint file holds one YAML document`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bp := mustParse(t, "f.bp.yaml", c.src)
			got := bp.LoadErrors
			i := 0
			for _, w := range c.want {
				for i < len(got) && !strings.HasPrefix(got[i].Error(), w) {
					i++
				}
				if i == len(got) {
					t.Errorf("missing problem %q; got:\n%s", w, problems(bp))
					return
				}
				i++
			}
			if len(got) != len(c.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(c.want), problems(bp))
			}
		})
	}
}

func TestNativeProblemFields(t *testing.T) {
	bp := mustParse(t, "f.bp.yaml", "blocks:\n  a:\n    type: setstate\n    fields: {x: &s [*s]}\n")
	if len(bp.LoadErrors) != 1 {
		t.Fatalf("problems:\n%s", problems(bp))
	}
	p := bp.LoadErrors[0]
	if p.Block != "a" || p.Field != "x" || p.Pos.Line != 4 || p.Pos.Column != 21 {
		t.Errorf("problem %#v", p)
	}
}

func TestNativeSyntaxError(t *testing.T) {
	cases := []struct{ src, want string }{
		{"blocks:\n  a: {type: x\n", "f.bp.yaml:2:"},
		{"blocks:\n  a: 'unterminated\n", "f.bp.yaml:2:6: syntax error: could not find end character of single-quoted text"},
		{"key: a\n b: c\n", "f.bp.yaml:1:6: syntax error: mapping value is not allowed"},
		{"{\"blocks\": [1, 2,}", "f.bp.yaml:1:"},
		// An alias to no anchor is not YAML; the parser says so without
		// saying where.
		{"blocks:\n  a: {type: setstate, fields: {value: *nope}}\n", "f.bp.yaml:2:39: syntax error: unknown alias *nope"},
	}
	for _, c := range cases {
		bp, err := ParseNative("f.bp.yaml", []byte(c.src))
		if bp != nil || err == nil {
			t.Errorf("%q: bp %v, err %v", c.src, bp, err)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Pos.Line == 0 || se.Pos.Column == 0 {
			t.Errorf("%q: not a SyntaxError with a position: %#v", c.src, err)
		}
		if !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %q, want prefix %q on one line", c.src, err, c.want)
		}
	}
}

func TestNativeKeyAndNames(t *testing.T) {
	for name, key := range map[string]string{
		"a/b/weather.bp.yaml": "weather",
		"w.bp.yml":            "w",
		`c:\x\w.bp.json`:      "w",
		"plain.yaml":          "plain",
		"x.json":              "x",
		"noext":               "noext",
		".bp.yaml":            ".bp",
		"":                    "",
	} {
		if got := NativeKey(name); got != key {
			t.Errorf("NativeKey(%q) = %q, want %q", name, got, key)
		}
	}
	for name, want := range map[string]bool{"a.bp.yaml": true, "d/a.bp.json": true, "a.yaml": false, ".bp.yaml": false, "a.bp.yaml.bak": false} {
		if IsNativeFile(name) != want {
			t.Errorf("IsNativeFile(%q) = %v", name, !want)
		}
	}
	for name, want := range map[string]bool{"components-blueprints_root.jsonl": true, ".wf/components-blueprints_blueprint-0-x.jsonl": true, "components-page-1.jsonl": false} {
		if IsWriterFile(name) != want {
			t.Errorf("IsWriterFile(%q) = %v", name, !want)
		}
	}
}
