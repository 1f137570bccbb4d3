package bptest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bprun/bp/scrub"
)

// templater writes recorded text with the case's secrets as templates and
// the values blocks masked as placeholders.
type templater struct {
	vault  []namedValue // longest value first
	masked []namedValue // value → placeholder, longest first
}

type namedValue struct{ name, value string }

func newTemplater(live map[string]string) *templater {
	t := &templater{}
	for name, v := range live {
		if len(v) >= scrub.MinSecretLen {
			t.vault = append(t.vault, namedValue{name, v})
		}
	}
	sortLongestFirst(t.vault)
	return t
}

func sortLongestFirst(list []namedValue) {
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].value) != len(list[j].value) {
			return len(list[i].value) > len(list[j].value)
		}
		return list[i].name < list[j].name
	})
}

// addMasked gives a value a block masked its placeholder, a fake value of
// the case: the replayed response carries it, the block masks it again,
// and the next request sends it.
func (t *templater) addMasked(v string) {
	if len(v) < scrub.MinSecretLen {
		return
	}
	t.masked = append(t.masked, namedValue{fmt.Sprintf("bptest-masked-%d", len(t.masked)+1), v})
	sortLongestFirst(t.masked)
}

// base64Token is a run of base64 that may encode a secret with text
// around it ("alice:" + password in a Basic header).
var base64Token = regexp.MustCompile(`[A-Za-z0-9+/]{8,}={0,2}`)

// text writes s with templates: a literal @{ escaped, a base64 token
// that decodes to text holding a secret as @{toBase64(...)}, then each
// secret raw, URL-escaped or base64 as @{vault.NAME}, @{urlQuery(...)},
// @{urlPath(...)}, @{toBase64(...)}, and each masked value as its
// placeholder.
func (t *templater) text(s string) string {
	s = strings.ReplaceAll(s, "@{", `\@{`)
	if len(t.vault) > 0 {
		s = base64Token.ReplaceAllStringFunc(s, t.base64Template)
	}
	var pairs []string
	for _, m := range t.masked {
		for _, form := range []string{m.value, url.QueryEscape(m.value), url.PathEscape(m.value)} {
			pairs = append(pairs, form, m.name)
		}
	}
	for _, v := range t.vault {
		ref := "vault." + v.name
		pairs = append(pairs,
			v.value, "@{"+ref+"}",
			url.QueryEscape(v.value), "@{urlQuery("+ref+")}",
			url.PathEscape(v.value), "@{urlPath("+ref+")}",
			base64.StdEncoding.EncodeToString([]byte(v.value)), "@{toBase64("+ref+")}",
		)
	}
	return longestFirstReplacer(pairs).Replace(s)
}

// longestFirstReplacer replaces in one pass, the longest pattern first
// where several start at one place; a form equal to an earlier one (a
// value with nothing to escape) keeps the earlier's replacement.
func longestFirstReplacer(pairs []string) *strings.Replacer {
	type pair struct{ from, to string }
	var list []pair
	seen := map[string]bool{}
	for i := 0; i < len(pairs); i += 2 {
		if !seen[pairs[i]] {
			seen[pairs[i]] = true
			list = append(list, pair{pairs[i], pairs[i+1]})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return len(list[i].from) > len(list[j].from) })
	flat := make([]string, 0, 2*len(list))
	for _, p := range list {
		flat = append(flat, p.from, p.to)
	}
	return strings.NewReplacer(flat...)
}

// base64Template turns a base64 token whose text holds a secret into
// @{toBase64("before" + vault.NAME + "after")}.
func (t *templater) base64Template(tok string) string {
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || !isText(raw) {
		return tok
	}
	text := string(raw)
	for _, v := range t.vault {
		if !strings.Contains(text, v.value) || text == v.value {
			continue
		}
		var parts []string
		for i, piece := range strings.Split(text, v.value) {
			if i > 0 {
				parts = append(parts, "vault."+v.name)
			}
			if piece != "" {
				q, _ := json.Marshal(piece)
				parts = append(parts, string(q))
			}
		}
		return "@{toBase64(" + strings.Join(parts, " + ") + ")}"
	}
	return tok
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// url writes a url with templates in its path segments and query values,
// each piece decoded first: replay escapes a template's value for its
// place, and compares urls in a normal form.
func (t *templater) url(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return t.text(raw)
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(t.text(u.User.String()) + "@")
	}
	b.WriteString(t.text(u.Host))
	for i, seg := range strings.Split(u.EscapedPath(), "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			dec = seg
		}
		b.WriteString(escapeAround(t.text(dec), url.PathEscape))
	}
	if u.RawQuery != "" {
		b.WriteByte('?')
		for i, kv := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, v, hasV := strings.Cut(kv, "=")
			for j, piece := range []string{k, v} {
				if j == 1 {
					if !hasV {
						break
					}
					b.WriteByte('=')
				}
				dec, err := url.QueryUnescape(piece)
				if err != nil {
					dec = piece
				}
				b.WriteString(escapeAround(t.text(dec), url.QueryEscape))
			}
		}
	}
	return b.String()
}

// escapeAround escapes the literal text of s, leaving its templates and
// \@{ escapes as they are.
func escapeAround(s string, esc func(string) string) string {
	var b, lit strings.Builder
	flush := func() {
		b.WriteString(esc(lit.String()))
		lit.Reset()
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], `\@{`):
			flush()
			b.WriteString(`\@{`)
			i += 3
		case strings.HasPrefix(s[i:], "@{"):
			end, err := tmplEnd(s, i+2)
			if err != nil {
				lit.WriteString(s[i:])
				i = len(s)
				continue
			}
			flush()
			b.WriteString(s[i : end+1])
			i = end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	return b.String()
}

// jsonValue writes a JSON body with templates in its strings (not its
// keys, which replay takes as written), numbers kept as they were.
func (t *templater) jsonValue(v any) any {
	switch x := v.(type) {
	case string:
		return t.text(x)
	case []any:
		for i := range x {
			x[i] = t.jsonValue(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = t.jsonValue(x[k])
		}
	}
	return v
}

// leaks names the secrets and masked values text still holds, in any form
// the scrubber knows.
func (t *templater) leaks(text []byte) []string {
	var names []string
	for _, list := range [][]namedValue{t.vault, t.masked} {
		for _, v := range list {
			s := scrub.New()
			if s.Add(v.value) && !bytes.Equal(s.Bytes(text), text) {
				if strings.HasPrefix(v.name, "bptest-masked-") {
					names = append(names, "a value a block masked")
				} else {
					names = append(names, "vault secret "+v.name)
				}
			}
		}
	}
	return names
}

// renderExchanges writes the http: section of a case.
func renderExchanges(exchanges []*recordedExchange, t *templater) ([]byte, error) {
	var b bytes.Buffer
	if len(exchanges) == 0 {
		b.WriteString("http: []\n")
		return b.Bytes(), nil
	}
	b.WriteString("http:\n")
	for _, x := range exchanges {
		b.WriteString("  - request:\n")
		fmt.Fprintf(&b, "      method: %s\n", plain(x.method))
		fmt.Fprintf(&b, "      url: %s\n", quote(t.url(x.url)))
		if keys := sortedKeys(x.reqHeader, unrecordedRequestHeaders); len(keys) > 0 {
			b.WriteString("      headers:\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "        %s: %s\n", plain(k), quote(t.text(x.reqHeader.Get(k))))
			}
		}
		if len(x.reqBody) > 0 {
			writeBody(&b, "      ", x.reqBody, isJSONType(x.reqHeader), t)
		}
		b.WriteString("    response:\n")
		if x.err != "" {
			fmt.Fprintf(&b, "      error: %s\n", quote(t.text(x.err)))
			continue
		}
		fmt.Fprintf(&b, "      status: %d\n", x.status)
		if keys := sortedKeys(x.respHeader, volatileHeaders); len(keys) > 0 {
			b.WriteString("      headers:\n")
			for _, k := range keys {
				vs := x.respHeader.Values(k)
				if len(vs) == 1 {
					fmt.Fprintf(&b, "        %s: %s\n", plain(k), quote(t.text(vs[0])))
					continue
				}
				q := make([]string, len(vs))
				for i, v := range vs {
					q[i] = quote(t.text(v))
				}
				fmt.Fprintf(&b, "        %s: [%s]\n", plain(k), strings.Join(q, ", "))
			}
		}
		if len(x.respBody) > 0 {
			writeBody(&b, "      ", x.respBody, isJSONType(x.respHeader), t)
		}
	}
	return b.Bytes(), nil
}

// writeBody writes body: as indented JSON (valid YAML) when it is JSON
// and said to be, else as a string.
func writeBody(b *bytes.Buffer, indent string, body []byte, isJSON bool, t *templater) {
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			enc.SetIndent(indent+"  ", "  ")
			if enc.Encode(t.jsonValue(v)) == nil {
				fmt.Fprintf(b, "%sbody: %s", indent, out.Bytes())
				return
			}
		}
	}
	fmt.Fprintf(b, "%sbody: %s\n", indent, quote(t.text(string(body))))
}

func isJSONType(h http.Header) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	return strings.Contains(ct, "json")
}

// quote is a YAML double-quoted scalar: JSON's escapes are YAML's.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// plainWord is a name YAML reads as the same string unquoted.
var plainWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// plain writes a method or a header name unquoted when YAML reads it as
// that string.
func plain(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
		return quote(s)
	}
	if plainWord.MatchString(s) {
		return s
	}
	return quote(s)
}

// topLevelKey is a line that starts a key of case.yaml's top mapping.
var topLevelKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*\s*:`)

// replaceHTTPSection writes section in place of case.yaml's http: (from
// its key to the next top-level key), or at its end; the rest of the
// file, comments included, stays as it was. The file is replaced whole,
// never left half written.
func replaceHTTPSection(path string, section []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		if start < 0 {
			if strings.HasPrefix(l, "http:") || strings.HasPrefix(l, "http :") {
				start = i
			}
			continue
		}
		if topLevelKey.MatchString(l) || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "...") {
			end = i
			break
		}
	}
	var out strings.Builder
	if start < 0 {
		out.WriteString(string(data))
		if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
			out.WriteByte('\n')
		}
		out.Write(section)
	} else {
		out.WriteString(strings.Join(lines[:start], ""))
		out.Write(section)
		out.WriteString(strings.Join(lines[end:], ""))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(out.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		_ = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	return os.Rename(tmp.Name(), path)
}
