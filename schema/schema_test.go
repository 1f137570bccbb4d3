package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v3"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/schema"
)

var update = flag.Bool("update", false, "rewrite blueprint.schema.json")

// committed is the copy of the schema in the repository, which editors
// can point at.
const committed = "blueprint.schema.json"

func builtinSchema(t *testing.T) []byte {
	t.Helper()
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	b, err := schema.Generate(reg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The committed schema is the one bp generates: a block type's new field
// or outcome fails this test until `go test ./schema -update` (or `bp
// schema > schema/blueprint.schema.json`) writes it.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	got := builtinSchema(t)
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./schema -update", committed)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	if a, b := builtinSchema(t), builtinSchema(t); !bytes.Equal(a, b) {
		t.Fatal("two schemas of the same types differ")
	}
}

// compile compiles a generated schema with a JSON Schema validator.
func compile(t *testing.T, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schema.ID, v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schema.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// instance reads a YAML text as an editor's language server sees it:
// mapping keys are text, scalars by their YAML tag.
func instance(t *testing.T, text string) any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return fromNode(t, doc.Content[0])
}

func fromNode(t *testing.T, n *yaml.Node) any {
	switch n.Kind {
	case yaml.AliasNode:
		return fromNode(t, n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = fromNode(t, n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, fromNode(t, c))
		}
		return l
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return b
	case "!!int", "!!float":
		var v any
		if err := json.Unmarshal([]byte(n.Value), &v); err == nil {
			return v
		}
		f, _ := strconv.ParseFloat(n.Value, 64)
		return f
	}
	return n.Value
}

// sample is a blueprint text and where it comes from.
type sample struct{ where, text string }

// samples are every blueprint the project shows its users: the bundled
// examples, and the blueprints in the README and the SPEC.
func samples(t *testing.T) []sample {
	t.Helper()
	var out []sample
	files, err := filepath.Glob("../blueprints/examples/*.bp.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sample{f, string(b)})
	}
	docs := []string{"../README.md"}
	if _, err := os.Stat("../../shared/SPEC.md"); err == nil {
		docs = append(docs, "../../shared/SPEC.md")
	} else {
		t.Log("SPEC.md not found beside the module: its examples are not checked")
	}
	fence := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range fence.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], "\nblocks:") {
				out = append(out, sample{fmt.Sprintf("%s (yaml block %d)", d, i+1), m[1]})
			}
		}
	}
	return out
}

// Every blueprint the project shows is valid for bp, and for the schema.
func TestExamplesValidate(t *testing.T) {
	s := compile(t, builtinSchema(t))
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	for _, ex := range samples(t) {
		bp, err := blueprints.ParseNative(filepath.Base(ex.where)+".bp.yaml", []byte(ex.text))
		if err != nil {
			t.Fatalf("%s: %v", ex.where, err)
		}
		if _, err := engine.Compile(bp, reg); err != nil {
			t.Errorf("%s: bp refuses it: %v", ex.where, err)
		}
		if err := s.Validate(instance(t, ex.text)); err != nil {
			t.Errorf("%s: %v", ex.where, err)
		}
	}
}

// A blueprint bp refuses is refused by the schema too, with the place of
// the mistake: the field, the outcome, the key.
func TestBadBlueprintsNameTheField(t *testing.T) {
	s := compile(t, builtinSchema(t))
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	const head = "key: k\nblocks:\n  start: {type: apitrigger, outs: {trigger: call}}\n"
	for _, c := range []struct{ name, call, at string }{
		{"timeout of the wrong type", `{type: httprequest, fields: {url: "http://x", timeout: [1]}}`, "/blocks/call/fields/timeout"},
		{"headers as a list", `{type: httprequest, fields: {url: "http://x", headers: [a]}}`, "/blocks/call/fields/headers"},
		{"unknown field", `{type: httprequest, fields: {url: "http://x", urll: "http://y"}}`, "/blocks/call/fields"},
		{"required field missing", `{type: httprequest, fields: {method: GET}}`, "/blocks/call/fields"},
		{"log type outside its values", `{type: logmessage, fields: {type: warn, message: hi}}`, "/blocks/call/fields/type"},
		{"unknown outcome", `{type: code, fields: {code: "pass"}, outs: {sucess: start}}`, "/blocks/call/outs"},
		{"unknown block type", `{type: htprequest, fields: {url: "http://x"}}`, "/blocks/call/type"},
		{"code of the wrong type", `{type: code, fields: {code: [1]}}`, "/blocks/call/fields/code"},
		{"unknown block key", `{type: code, fields: {code: "pass"}, out: {success: start}}`, "/blocks/call"},
		{"bad secret name", "", "/vault/0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := head + "  call: " + c.call + "\n"
			if c.call == "" {
				text = "vault: [1A]\n" + head + "  call: {type: code, fields: {code: pass}}\n"
			}
			bp, err := blueprints.ParseNative("k.bp.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := engine.Compile(bp, reg); err == nil {
				t.Fatalf("bp accepts it; the case is wrong:\n%s", text)
			}
			err = s.Validate(instance(t, text))
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("valid for the schema:\n%s", text)
			}
			if !hasLocation(ve, c.at) {
				t.Fatalf("no error at %s:\n%v", c.at, err)
			}
		})
	}
}

// hasLocation reports whether the error, or one of its causes, is about
// the value at the JSON pointer at.
func hasLocation(ve *jsonschema.ValidationError, at string) bool {
	if "/"+strings.Join(ve.InstanceLocation, "/") == at {
		return true
	}
	for _, c := range ve.Causes {
		if hasLocation(c, at) {
			return true
		}
	}
	return false
}

// Templates stand for values of other types, as bp allows: a whole
// @{...} keeps its value's type; JSON text is text.
func TestTemplatesAndJSONTextAreValid(t *testing.T) {
	s := compile(t, builtinSchema(t))
	text := `key: k
blocks:
  start: {type: blueprints_apitrigger, outs: {trigger: [call, log]}}
  call:
    type: httprequest
    fields:
      url: "http://x"
      method: "@{payload.method}"
      timeout: "@{payload.t}"
      headers: '{"A": "@{payload.a}"}'
      retry: 3
      followRedirects: false
      bodyType: "@{payload.kind}"
  log: {type: logmessage, fields: {type: error, message: {any: [thing]}}}
`
	if err := s.Validate(instance(t, text)); err != nil {
		t.Fatal(err)
	}
}

// A program that registers its own block type finds it in the schema it
// generates: its fields, docs and outcomes.
func TestCustomTypesAppear(t *testing.T) {
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	reg.Register(greet{})
	doc, err := schema.Generate(reg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(`"who to greet"`)) {
		t.Error("the custom field's doc is missing")
	}
	s := compile(t, doc)
	for _, good := range []string{
		"blocks:\n  start: {type: apitrigger, outs: {trigger: hi}}\n  hi: {type: greet, fields: {name: Ada}, outs: {greeted: start}}\n",
		"blocks:\n  hi: {type: greet, fields: {name: Ada, times: 3}}\n",
		"blocks:\n  hi: {type: greet, fields: {name: Ada, times: \"@{payload.n}\"}}\n",
	} {
		if err := s.Validate(instance(t, good)); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{
		"blocks:\n  hi: {type: greet, fields: {nam: Ada}}\n",
		"blocks:\n  hi: {type: greet, fields: {name: Ada, times: many}}\n", // a number, or a template for one
		"blocks:\n  hi: {type: greet, fields: {name: Ada}, outs: {success: hi}}\n",
		"blocks:\n  hi: {type: httprequest, fields: {url: http://x}}\n", // not in this registry
	} {
		if err := s.Validate(instance(t, bad)); err == nil {
			t.Errorf("valid:\n%s", bad)
		}
	}
}

type greet struct{}

func (greet) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "greet", Doc: "Greets someone.", Outcomes: []string{"greeted", "error"},
		Fields: []engine.FieldSpec{
			{Name: "name", Kind: engine.FieldText, Type: engine.TypeString, Required: true, Doc: "who to greet"},
			{Name: "times", Kind: engine.FieldText, Type: engine.TypeNumber},
		}}
}

func (greet) Run(context.Context, *engine.Call) engine.Result { return engine.Outcome("greeted", nil) }
