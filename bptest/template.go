package bptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// A recorded exchange may name the case's fake secrets instead of copying
// them: @{vault.NAME} in a request's url, headers or body (and in a
// response's headers or body) stands for the case's value of NAME, so
// that secrets live in one place and cases stay readable. The text inside
// @{...} is an expr-lang expression over vault, with the encoders a
// blueprint has (toBase64, toJSON, urlQuery, urlPath):
//
//	Authorization: "Basic @{toBase64(\"alice:\" + vault.PASSWORD)}"
//
// \@{ is a literal @{. In a url, each value is escaped for where it
// stands (path or query); elsewhere it is inserted as it is.

// fakeVault is what a case's templates can read.
type fakeVault map[string]string

var (
	tmplURLQuery = expr.Function("urlQuery", func(args ...any) (any, error) { return url.QueryEscape(fmt.Sprint(args[0])), nil }, new(func(string) string))
	tmplURLPath  = expr.Function("urlPath", func(args ...any) (any, error) { return url.PathEscape(fmt.Sprint(args[0])), nil }, new(func(string) string))
)

// tmplPart is literal text or a compiled expression.
type tmplPart struct {
	text string
	prog *vm.Program
}

// parseTmpl splits text into literal text and @{...} expressions, compiled
// against the vault's names: a name the case does not define is an error
// here, not a mismatch later.
func parseTmpl(text string, vault fakeVault) ([]tmplPart, error) {
	var parts []tmplPart
	var lit strings.Builder
	env := map[string]any{"vault": vaultEnv(vault)}
	for i := 0; i < len(text); {
		switch {
		case strings.HasPrefix(text[i:], `\@{`):
			lit.WriteString("@{")
			i += 3
			continue
		case !strings.HasPrefix(text[i:], "@{"):
			lit.WriteByte(text[i])
			i++
			continue
		}
		end, err := tmplEnd(text, i+2)
		if err != nil {
			return nil, err
		}
		src := strings.TrimSpace(text[i+2 : end])
		prog, err := expr.Compile(src, expr.Env(env), tmplURLQuery, tmplURLPath)
		if err != nil {
			return nil, fmt.Errorf("@{%s}: %s", src, firstLine(err.Error()))
		}
		if err := checkVaultNames(prog, vault); err != nil {
			return nil, fmt.Errorf("@{%s}: %w", src, err)
		}
		if lit.Len() > 0 {
			parts = append(parts, tmplPart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, tmplPart{prog: prog, text: src})
		i = end + 1
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, tmplPart{text: lit.String()})
	}
	return parts, nil
}

// vaultEnv is the vault as expressions see it.
func vaultEnv(vault fakeVault) map[string]any {
	m := make(map[string]any, len(vault))
	for k, v := range vault {
		m[k] = v
	}
	return m
}

// checkVaultNames refuses vault.NAME for a NAME the case does not define:
// expr-lang would give nil, and the matcher would quietly never match.
func checkVaultNames(prog *vm.Program, vault fakeVault) error {
	src := prog.Source().String()
	for i := 0; ; {
		j := strings.Index(src[i:], "vault.")
		if j < 0 {
			return nil
		}
		start := i + j + len("vault.")
		end := start
		for end < len(src) && (src[end] == '_' || src[end] >= 'A' && src[end] <= 'Z' || src[end] >= 'a' && src[end] <= 'z' || src[end] >= '0' && src[end] <= '9') {
			end++
		}
		if name := src[start:end]; name != "" {
			if _, ok := vault[name]; !ok {
				return fmt.Errorf("the case's vault has no secret %s", name)
			}
		}
		i = end
	}
}

// tmplEnd finds the } that closes a template whose expression starts at
// i, skipping braces and quotes inside it.
func tmplEnd(text string, i int) (int, error) {
	depth := 0
	for ; i < len(text); i++ {
		switch c := text[i]; c {
		case '"', '\'', '`':
			for i++; i < len(text) && text[i] != c; i++ {
				if text[i] == '\\' && c != '`' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, errors.New("@{ without its closing }")
}

// expand evaluates the parts, passing each value through escape (nil: as
// it is).
func expand(parts []tmplPart, vault fakeVault, escape func(string) string) (string, error) {
	if len(parts) == 1 && parts[0].prog == nil {
		return parts[0].text, nil
	}
	env := map[string]any{"vault": vaultEnv(vault)}
	var b strings.Builder
	for _, p := range parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := expr.Run(p.prog, env)
		if err != nil {
			return "", fmt.Errorf("@{%s}: %v", p.text, err)
		}
		if v == nil {
			return "", fmt.Errorf("@{%s} has no value (a secret the case's vault lacks?)", p.text)
		}
		s, ok := v.(string)
		if !ok {
			j, err := json.Marshal(v)
			if err != nil {
				return "", fmt.Errorf("@{%s}: %v", p.text, err)
			}
			s = string(j)
		}
		if escape != nil {
			s = escape(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// expandText expands the templates of a header or a body.
func expandText(text string, vault fakeVault) (string, error) {
	parts, err := parseTmpl(text, vault)
	if err != nil {
		return "", err
	}
	return expand(parts, vault, nil)
}

// expandURL expands the templates of a url, each value escaped for the
// part of the url it stands in.
func expandURL(raw string, vault fakeVault) (string, error) {
	q := queryStart(raw)
	path, query := raw, ""
	if q >= 0 {
		path, query = raw[:q], raw[q:]
	}
	pp, err := parseTmpl(path, vault)
	if err != nil {
		return "", err
	}
	p, err := expand(pp, vault, url.PathEscape)
	if err != nil {
		return "", err
	}
	if query == "" {
		return p, nil
	}
	qp, err := parseTmpl(query, vault)
	if err != nil {
		return "", err
	}
	qs, err := expand(qp, vault, url.QueryEscape)
	if err != nil {
		return "", err
	}
	return p + qs, nil
}

// queryStart is the index of the ? that starts a url's query, outside
// any template; -1 without one.
func queryStart(s string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '?':
			return i
		case strings.HasPrefix(s[i:], "@{"):
			end, err := tmplEnd(s, i+2)
			if err != nil {
				return -1
			}
			i = end
		}
	}
	return -1
}

// expandValue expands the templates in every string of a JSON value (a
// body given as YAML), each a value as it is.
func expandValue(v any, vault fakeVault) (any, error) {
	switch t := v.(type) {
	case string:
		return expandText(t, vault)
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			e, err := expandValue(x, vault)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			e, err := expandValue(x, vault)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = e
		}
		return out, nil
	}
	return v, nil
}
