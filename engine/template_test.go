package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/engine"
)

// evalValue runs a one-block blueprint returning value and gives the result.
func evalValue(t *testing.T, format engine.Format, value any, payload any, state map[string]any) (*engine.RunResult, *recorder) {
	t.Helper()
	env := newEnv(t)
	b := bp("tmpl", blk("r", "returnvalue", f{"value": value}))
	b.Format = format
	p := env.compile(t, b)
	return env.run(t, p, engine.RunOptions{Payload: payload, State: state})
}

func TestTemplates(t *testing.T) {
	payload := map[string]any{
		"city":  "Paris",
		"n":     3.0,
		"list":  []any{"a", map[string]any{"x": "deep"}},
		"obj":   map[string]any{"k": "v"},
		"a.b":   "dotted",
		"which": "city",
		"quote": `say "hi"`,
	}
	state := map[string]any{"greeting": "hello", "items": []any{1.0, 2.0, 3.0}}
	tests := []struct {
		name  string
		value any
		want  any
	}{
		{"literal", "plain text", "plain text"},
		{"whole field keeps the type", "@{payload.obj}", map[string]any{"k": "v"}},
		{"whole number", "@{payload.n}", 3.0},
		{"inside text non-strings are JSON", "obj=@{payload.obj} n=@{payload.n}", `obj={"k":"v"} n=3`},
		{"list index", "@{payload.list.1.x}", "deep"},
		{"computed key", "@{payload[payload.which]}", "Paris"},
		{"escaped dot", `@{payload.a\.b}`, "dotted"},
		{"escaped template", `\@{payload.city} is @{payload.city}`, "@{payload.city} is Paris"},
		{"state key by name", "@{greeting}, @{state.greeting}", "hello, hello"},
		{"expression", "@{len(state.items) * 2}", 6.0},
		{"expression comparison", "@{payload.city == 'Paris' && payload.n > 2}", true},
		{"expression with braces in a string", `@{payload.city + "}"}`, "Paris}"},
		{"structured value: each string is a field", map[string]any{"c": "@{payload.city}", "l": []any{"@{payload.n}", "x"}}, map[string]any{"c": "Paris", "l": []any{3.0, "x"}}},
		{"spaces inside", "@{ payload.city }", "Paris"},
		{"a range is a list of numbers", "@{1..3}", []any{1.0, 2.0, 3.0}},
		{"an empty list or map stays one", map[string]any{"l": []any{}, "m": map[string]any{}, "n": []any{[]any{}}}, map[string]any{"l": []any{}, "m": map[string]any{}, "n": []any{[]any{}}}},
		{"typed lists and maps become JSON values", "@{{'a': map(1..2, # * 2), 'b': filter(['x', 'y'], # != 'x')}}", map[string]any{"a": []any{2.0, 4.0}, "b": []any{"y"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := evalValue(t, engine.FormatNative, tc.value, payload, state)
			if res.Status != engine.StatusReturned {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}

func TestJSONFieldEscapesInsertions(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("j",
		blk("p", "parsejson", f{"plainText": `{"q": "@{payload.quote}", "n": @{payload.n}}`}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{result}"}),
	))
	res, _ := env.run(t, p, engine.RunOptions{Payload: map[string]any{"quote": "say \"hi\"\n", "n": 2.0}})
	want := map[string]any{"q": "say \"hi\"\n", "n": 2.0}
	if !reflect.DeepEqual(res.Return, want) {
		t.Fatalf("got %#v (%v), want %#v", res.Return, res.Err, want)
	}
}

func TestMissingNameIsErrorNamingBlockFieldPath(t *testing.T) {
	res, _ := evalValue(t, engine.FormatNative, "x @{payload.city.zip}", map[string]any{"city": map[string]any{}}, nil)
	if res.Status != engine.StatusFailed {
		t.Fatalf("status %s, want failed", res.Status)
	}
	msg := res.Err.Error()
	for _, s := range []string{"block r", "field value", "@{payload.city.zip}", `payload.city has no key "zip"`} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not say %q", msg, s)
		}
	}
	if !errors.Is(res.Err, engine.ErrNotFound) {
		t.Errorf("error does not wrap ErrNotFound")
	}
	res, _ = evalValue(t, engine.FormatNative, "@{nosuch + 1}", nil, nil)
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), `no name "nosuch"`) {
		t.Errorf("expression with a missing name: %s %v", res.Status, res.Err)
	}
}

func TestWriterMissingPathIsNullWithWarning(t *testing.T) {
	res, rec := evalValue(t, engine.FormatWriter, "v=@{context.item.object}", nil, nil)
	if res.Return != "v=null" {
		t.Fatalf("got %#v (%v), want v=null", res.Return, res.Err)
	}
	if rec.count(engine.RunWarning, "r") != 1 {
		t.Errorf("no warning event for the missing path")
	}
}

func TestTemplateCompileErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		value any
		want  string
	}{
		{"@{vault}", "vault can only be read as vault.NAME"},
		{"@{vault[name]}", "vault can only be read as vault.NAME"},
		{"@{keys(vault)}", "vault can only be read as vault.NAME"},
		{"@{vault[payload.x]}", "vault can only be read as vault.NAME"},
		{"@{lower(vault.KEY)}", "a secret cannot go through lower()"},
		{"@{vault.KEY[0:4]}", "a secret cannot go through"},
		{"@{split(vault.KEY, '')}", "a secret cannot go through split()"},
		{"@{lower('Bearer ' + vault.KEY)}", "a secret cannot go through lower()"},
		{"@{$HOME}", "environment variables are not readable"},
		{"@{$env}", "$env is not readable"},
		{"abc @{payload", "column 5: @{ has no closing }"},
		{"@{1 +}", "column 1"},
		{"@{}", "empty @{}"},
	}
	for _, tc := range tests {
		b := bp("bad", blk("r", "returnvalue", f{"value": tc.value}))
		b.Blocks[0].FieldPos = map[string]engine.Pos{"value": {File: "bad.bp.yaml", Line: 3, Column: 12}}
		_, err := engine.Compile(b, env.reg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.value, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "bad.bp.yaml:3:") {
			t.Errorf("%v: error %v does not give the line", tc.value, err)
		}
	}
}

func TestAllowedUsesOfASecretInExpressions(t *testing.T) {
	env := newEnv(t)
	for _, src := range []string{
		"@{'Bearer ' + vault.KEY}", "@{toBase64('u:' + vault.KEY)}", "@{urlQuery(vault.KEY)}",
		"@{len(vault.KEY) > 3}", "@{vault.KEY startsWith 'k'}", "@{payload.x ? vault.KEY : ''}",
	} {
		if _, err := engine.Compile(bp("ok", blk("r", "returnvalue", f{"value": src})), env.reg); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestEnvAllowedWhenListed(t *testing.T) {
	env := newEnv(t)
	b := bp("e", blk("r", "returnvalue", f{"value": "@{$BP_TEST_X}"}))
	b.Env = []string{"BP_TEST_X"}
	p := env.compile(t, b)
	res, _ := env.run(t, p, engine.RunOptions{LookupEnv: func(n string) (string, bool) { return "val-" + n, true }})
	if res.Return != "val-BP_TEST_X" {
		t.Fatalf("got %#v (%v)", res.Return, res.Err)
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	env := newEnv(t)
	b := bp("many",
		blk("t", "apitrigger", nil, "trigger>a", "nope>a", "trigger>ghost"),
		blk("a", "setstate", f{"value": "x", "colour": "red"}),
		blk("w", "writercompletion", nil),
		blk("r", "returnvalue", f{"value": "@{1 +"}),
	)
	_, err := engine.Compile(b, env.reg)
	var ve *engine.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	for _, s := range []string{
		`t: outs: type apitrigger has no outcome "nope"`,
		`t: outs: edge trigger leads to block "ghost", which does not exist`,
		`a: colour: unknown field for type setstate`,
		`a: element: required field is missing`,
		`w: type writercompletion is not supported`,
		`r: value: column 1: @{ has no closing }`,
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("validation error does not say %q:\n%s", s, msg)
		}
	}
	if len(ve.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(ve.Problems), msg)
	}
}

func TestVaultReadsAndAudit(t *testing.T) {
	env := newEnv(t)
	b := bp("v", blk("r", "returnvalue", f{"value": "Bearer @{vault.API_KEY}"}))
	b.Vault = []string{"API_KEY"}
	p := env.compile(t, b)
	src := mapSecrets{"API_KEY": "s3cr3t-value", "OTHER": "other-value"}
	var masked []string
	var reads []string
	res, _ := env.run(t, p, engine.RunOptions{Secrets: src,
		OnSecret:     func(v string) { masked = append(masked, v) },
		OnSecretRead: func(name, block string) { reads = append(reads, name+"@"+block) },
	})
	if res.Return != "Bearer s3cr3t-value" {
		t.Fatalf("got %#v (%v)", res.Return, res.Err)
	}
	if !reflect.DeepEqual(masked, []string{"s3cr3t-value"}) {
		t.Errorf("masked %v: the run sees only its listed secret", masked)
	}
	if !reflect.DeepEqual(reads, []string{"API_KEY@r"}) {
		t.Errorf("audit %v", reads)
	}

	b2 := bp("v2", blk("r", "returnvalue", f{"value": "@{vault.OTHER}"}))
	b2.Vault = []string{"API_KEY"}
	res, _ = env.run(t, env.compile(t, b2), engine.RunOptions{Secrets: src})
	if res.Status != engine.StatusFailed || !errors.Is(res.Err, engine.ErrSecretNotFound) || strings.Contains(res.Err.Error(), "other-value") {
		t.Errorf("unlisted secret: %s %v", res.Status, res.Err)
	}
	b3 := bp("v3", blk("r", "returnvalue", f{"value": "@{vault.MISSING}"}))
	res, _ = env.run(t, env.compile(t, b3), engine.RunOptions{Secrets: src})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "vault.MISSING") {
		t.Errorf("missing secret: %s %v", res.Status, res.Err)
	}
	for _, v := range src {
		if strings.Contains(res.Err.Error(), v) {
			t.Errorf("error shows a secret value: %v", res.Err)
		}
	}
}

func TestIfElseExpressionWithTemplates(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("if",
		blk("if", "ifelse", f{"expression": `@{payload.city} == "Paris" && len(@{payload.tags}) > 1`}, "true>yes", "false>no"),
		blk("yes", "returnvalue", f{"value": "yes"}),
		blk("no", "returnvalue", f{"value": "no"}),
	))
	for _, tc := range []struct {
		payload map[string]any
		want    string
	}{
		{map[string]any{"city": "Paris", "tags": []any{"a", "b"}}, "yes"},
		{map[string]any{"city": "Oslo", "tags": []any{"a", "b"}}, "no"},
		// A value is a value, never expression text.
		{map[string]any{"city": `x" || true || "`, "tags": []any{"a", "b"}}, "no"},
	} {
		res, _ := env.run(t, p, engine.RunOptions{Payload: tc.payload})
		if res.Return != tc.want {
			t.Errorf("payload %v: got %v (%v), want %s", tc.payload, res.Return, res.Err, tc.want)
		}
	}
}

func TestStructuredValueInJSONFieldIsNotEscaped(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("j",
		blk("p", "parsejson", f{"plainText": map[string]any{"q": "v=@{payload.quote}"}}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{result.q}"}),
	))
	res, _ := env.run(t, p, engine.RunOptions{Payload: map[string]any{"quote": `a"b\c`}})
	if res.Return != `v=a"b\c` {
		t.Fatalf("got %#v (%v)", res.Return, res.Err)
	}
}

func TestEnvValuesAreMasked(t *testing.T) {
	env := newEnv(t)
	b := bp("e", blk("r", "returnvalue", f{"value": "@{$TOKEN}"}))
	b.Env = []string{"TOKEN"}
	var masked []string
	res, _ := env.run(t, env.compile(t, b), engine.RunOptions{
		LookupEnv: func(string) (string, bool) { return "tok-123456", true },
		OnSecret:  func(v string) { masked = append(masked, v) },
	})
	if res.Return != "tok-123456" || !reflect.DeepEqual(masked, []string{"tok-123456"}) {
		t.Fatalf("return %v, masked %v", res.Return, masked)
	}
}

// slowSecrets takes a while to read each secret, as a remote vault would.
type slowSecrets struct{ mapSecrets }

func (s slowSecrets) Secret(ctx context.Context, name string) (string, error) {
	time.Sleep(30 * time.Millisecond)
	return s.mapSecrets.Secret(ctx, name)
}

func TestCalledBlueprintsSeeTheirSecretsWhenLoadedConcurrently(t *testing.T) {
	env := newEnv(t)
	env.compile(t, bp("child", blk("r", "returnvalue", f{"value": "@{vault.BBBB}"})))
	parent := bp("parent",
		blk("t", "apitrigger", nil, "trigger>c1", "trigger>c2"),
		blk("c1", "runblueprint", f{"blueprintKey": "child"}),
		blk("c2", "runblueprint", f{"blueprintKey": "child"}),
	)
	parent.Vault = []string{"AAAA"}
	res, rec := env.run(t, env.compile(t, parent), engine.RunOptions{Secrets: slowSecrets{mapSecrets{"AAAA": "a-secret", "BBBB": "b-secret"}}})
	if res.Status != engine.StatusCompleted {
		t.Fatalf("status %s: %v (%v)", res.Status, res.Err, rec.statuses())
	}
}

func TestTemplateInsideAStringOfAnExpression(t *testing.T) {
	env := newEnv(t)
	p := env.compile(t, bp("q",
		blk("if", "ifelse", f{"expression": `"@{payload.a}" == "A" && 'x@{payload.a}y' == "xAy"`}, "true>yes", "false>no"),
		blk("yes", "returnvalue", f{"value": "yes"}),
		blk("no", "returnvalue", f{"value": "no"}),
	))
	res, _ := env.run(t, p, engine.RunOptions{Payload: map[string]any{"a": "A"}})
	if res.Return != "yes" {
		t.Fatalf("got %v (%v)", res.Return, res.Err)
	}
}

func TestWriterQuotedKeys(t *testing.T) {
	env := newEnv(t)
	b := bp("w", blk("r", "returnvalue", f{"value": `@{vault["KEY"]} @{payload["a b"]}`}))
	b.Format = engine.FormatWriter
	res, _ := env.run(t, env.compile(t, b), engine.RunOptions{Payload: map[string]any{"a b": "x"}, Secrets: mapSecrets{"KEY": "k-1234"}})
	if res.Return != "k-1234 x" {
		t.Fatalf("got %#v (%v)", res.Return, res.Err)
	}
}

// A JSON-typed value inserts text JSON-escaped (SPEC 4): quotes and
// backslashes in the payload stay data, and cannot add keys.
func TestJSONValueTypeEscapesInsertions(t *testing.T) {
	e := newEnv(t)
	p := e.compile(t, bp("json-state",
		blk("t", "apitrigger", nil, "trigger>s"),
		blk("s", "setstate", f{"element": "doc", "value": `{"q": "@{payload.q}", "n": @{payload.n}}`, "valueType": "JSON"}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{doc}"}),
	))
	q := `a"b\c", "injected": "x`
	res, _ := e.run(t, p, engine.RunOptions{Payload: map[string]any{"q": q, "n": 2.0}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string]any{"q": q, "n": 2.0}
	if !reflect.DeepEqual(res.Return, want) {
		t.Fatalf("state %#v, want %#v", res.Return, want)
	}
	// A value that is JSON text itself is spliced in as written.
	p = e.compile(t, bp("json-splice",
		blk("t", "apitrigger", nil, "trigger>s"),
		blk("s", "setstate", f{"element": "doc", "value": `{"data": @{payload.raw}}`, "valueType": "JSON"}, "success>r"),
		blk("r", "returnvalue", f{"value": "@{doc}"}),
	))
	res, _ = e.run(t, p, engine.RunOptions{Payload: map[string]any{"raw": `{"k": "v"}`}})
	if want := map[string]any{"data": map[string]any{"k": "v"}}; !reflect.DeepEqual(res.Return, want) {
		t.Fatalf("spliced %#v (%v), want %#v", res.Return, res.Err, want)
	}
}

// An expression with templates in it fails in the words the user wrote,
// not with the variables it was compiled to.
func TestTemplatedExpressionErrorQuotesTheField(t *testing.T) {
	e := newEnv(t)
	p := e.compile(t, bp("expr-err",
		blk("t", "apitrigger", nil, "trigger>if"),
		blk("if", "ifelse", f{"expression": "@{payload.name} + 1 > 2"}),
	))
	res, _ := e.run(t, p, engine.RunOptions{Payload: map[string]any{"name": "x"}})
	msg := fmt.Sprint(res.Err)
	if !strings.Contains(msg, `"@{payload.name} + 1 > 2"`) || strings.Contains(msg, "__t") {
		t.Fatalf("error %q", msg)
	}
}
