package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Template is a field's text parsed once, at load, into literal parts and
// @{...} parts. Executing it evaluates the parts against a run's data.
type Template struct {
	src   string
	parts []part
}

type part struct {
	lit    string    // literal text, when ev is nil
	ev     evaluator // a path or an expression
	src    string    // the text between @{ and }
	offset int       // byte offset of "@{" in the field, for messages
}

// evaluator computes the value of one @{...}.
type evaluator interface {
	eval(s *scope) (any, error)
}

// TemplateError is a template that does not parse.
type TemplateError struct {
	Column  int // 1-based column in the field's text (its first line)
	Line    int // 1-based line within the field's text
	Message string
}

func (e *TemplateError) Error() string {
	if e.Line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("column %d: %s", e.Column, e.Message)
}

// compileOptions say how a blueprint's templates are read.
type compileOptions struct {
	loose bool            // Writer's path syntax
	env   map[string]bool // environment variables listed under env:
}

// parseTemplate parses a field's text.
func parseTemplate(src string, opts compileOptions) (*Template, error) {
	t := &Template{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); {
		if src[i] == '\\' && strings.HasPrefix(src[i+1:], "@{") {
			lit.WriteString("@{")
			i += 3
			continue
		}
		if !strings.HasPrefix(src[i:], "@{") {
			lit.WriteByte(src[i])
			i++
			continue
		}
		end, err := closingBrace(src, i+2)
		if err != nil {
			return nil, templateError(src, i, err.Error())
		}
		inner := strings.TrimSpace(src[i+2 : end])
		if inner == "" {
			return nil, templateError(src, i, "empty @{}")
		}
		ev, err := compileEvaluator(inner, opts)
		if err != nil {
			return nil, templateError(src, i, fmt.Sprintf("@{%s}: %v", inner, err))
		}
		flush()
		t.parts = append(t.parts, part{ev: ev, src: inner, offset: i})
		i = end + 1
	}
	flush()
	return t, nil
}

// closingBrace finds the } that closes a template opened before i,
// skipping braces inside expr-lang strings and nested { } of map literals.
func closingBrace(src string, i int) (int, error) {
	depth := 0
	for ; i < len(src); i++ {
		switch c := src[i]; c {
		case '"', '\'', '`':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(src) {
				return 0, fmt.Errorf("unterminated string in @{...}")
			}
			i = j
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("@{ has no closing }")
}

func templateError(src string, offset int, msg string) *TemplateError {
	line := 1 + strings.Count(src[:offset], "\n")
	col := offset + 1
	if k := strings.LastIndexByte(src[:offset], '\n'); k >= 0 {
		col = offset - k
	}
	return &TemplateError{Line: line, Column: col, Message: msg}
}

// compileEvaluator makes a plain path walker when inner is a path, and an
// expr-lang program otherwise.
func compileEvaluator(inner string, opts compileOptions) (evaluator, error) {
	if p, ok := parsePath(inner, opts.loose); ok {
		if err := checkPath(p, opts); err != nil {
			return nil, err
		}
		return p, nil
	}
	return compileExpr(inner, opts)
}

// checkPath enforces the vault and environment rules on a path.
func checkPath(p *path, opts compileOptions) error {
	root := p.root()
	switch {
	case root == "vault":
		if len(p.elems) < 2 || p.elems[1].sub != nil {
			return errVaultUse
		}
		if !validSecretName(p.elems[1].key) {
			return fmt.Errorf("%q is not a valid secret name", p.elems[1].key)
		}
	case root == "$env":
		return fmt.Errorf("$env is not readable in templates")
	case root[0] == '$':
		if !opts.env[root[1:]] {
			return fmt.Errorf("environment variables are not readable in templates; list %s under env: in the blueprint to allow it", root[1:])
		}
	}
	return nil
}

var errVaultUse = fmt.Errorf("vault can only be read as vault.NAME with a constant name")

func validSecretName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Source is the text the template was parsed from.
func (t *Template) Source() string { return t.src }

// IsLiteral reports whether the template has no @{...}.
func (t *Template) IsLiteral() bool {
	return len(t.parts) == 0 || len(t.parts) == 1 && t.parts[0].ev == nil
}

// execute evaluates the template. A template that is exactly one @{...}
// keeps its value's type; otherwise the parts are joined as text, with
// non-strings JSON-encoded and, when jsonText is set, strings JSON-escaped.
func (t *Template) execute(s *scope, jsonText bool) (any, error) {
	switch {
	case len(t.parts) == 0:
		return "", nil
	case len(t.parts) == 1 && t.parts[0].ev == nil:
		return t.parts[0].lit, nil
	case len(t.parts) == 1:
		return t.parts[0].ev.eval(s)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.ev == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.ev.eval(s)
		if err != nil {
			return nil, err
		}
		writeValue(&b, v, jsonText)
	}
	return b.String(), nil
}

// writeValue inserts a value into a template's text; with jsonText, text
// values go in JSON-escaped.
func writeValue(b *strings.Builder, v any, jsonText bool) {
	switch v.(type) {
	case string, fmt.Stringer:
		if jsonText {
			writeJSONEscaped(b, textOf(v))
			return
		}
	}
	b.WriteString(textOf(v))
}

// executeBoth is execute with and without jsonText at once: the values
// are evaluated once (a Writer warning is given once).
func (t *Template) executeBoth(s *scope) (escaped, plain any, err error) {
	if len(t.parts) <= 1 {
		v, err := t.execute(s, false)
		return v, v, err
	}
	var esc, pl strings.Builder
	for _, p := range t.parts {
		if p.ev == nil {
			esc.WriteString(p.lit)
			pl.WriteString(p.lit)
			continue
		}
		v, err := p.ev.eval(s)
		if err != nil {
			return nil, nil, err
		}
		writeValue(&esc, v, true)
		writeValue(&pl, v, false)
	}
	return esc.String(), pl.String(), nil
}

// textOf is a value as it appears inside text: strings as they are,
// everything else as JSON.
func textOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case fmt.Stringer:
		return t.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// writeJSONEscaped writes s as the inside of a JSON string.
func writeJSONEscaped(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := buf.Bytes()
	b.Write(out[1 : len(out)-2]) // drop the quotes and the newline
}
