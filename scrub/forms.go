package scrub

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinSecretLen is the shortest secret Add masks. Masking a 1–3 byte value
// would mask ordinary text everywhere; derived forms shorter than this are
// dropped for the same reason.
const MinSecretLen = 4

// pattern is one byte string to mask, and the growth that widens each
// match of it to whole encoding groups (zero for text forms).
type pattern struct {
	text string
	grow grow
}

// forms returns the distinct patterns under which secret may show up in
// output, in memory of their own: the raw value and the encodings a block,
// a library or a log line commonly applies to it. Patterns shorter than
// minLen are dropped; base64 patterns are measured in characters of their
// core (see base64.go).
func forms(secret string, minLen int) []pattern {
	return appendForms(nil, secret, minLen)
}

// appendForms appends the forms of secret to dst.
func appendForms(dst []pattern, secret string, minLen int) []pattern {
	if secret == "" {
		return dst
	}
	first := len(dst)
	// A secret has a few dozen candidate forms, most of them equal: a
	// linear search beats a map here.
	add := func(p pattern, n int) {
		if p.text == "" || n < minLen {
			return
		}
		for i := first; i < len(dst); i++ {
			if dst[i].text == p.text {
				dst[i].grow = dst[i].grow.union(p.grow)
				return
			}
		}
		dst = append(dst, p)
	}
	// Every form is new memory or a part of this copy, so that the
	// patterns keep no caller's larger array alive (a response body a
	// token was cut from).
	secret = strings.Clone(secret)

	// Values whose encodings are registered: the raw secret, the secret
	// trimmed of surrounding whitespace (a value read from a file usually
	// ends in a newline that the output lacks), and the unquoted value of a
	// secret stored in double quotes (actions/runner's TrimDoubleQuotes,
	// longer than 8 bytes only, so "short" quoted words stay visible).
	bases := [3]string{secret}
	nb := 1
	t := strings.TrimSpace(secret)
	if t != secret {
		bases[nb], nb = t, nb+1
	}
	if len(t) > 8 && t[0] == '"' && t[len(t)-1] == '"' {
		bases[nb], nb = t[1:len(t)-1], nb+1
	}
	for _, b := range bases[:nb] {
		add(pattern{text: b}, len(b))
	}

	// Each line of a multi-line secret (a PEM key is printed line by line,
	// or with other line endings than it was stored with). Lines are
	// registered raw only: their encodings are covered by the whole value's.
	if strings.ContainsAny(secret, "\r\n") {
		for _, l := range strings.FieldsFunc(secret, func(r rune) bool { return r == '\r' || r == '\n' }) {
			l = strings.TrimSpace(l)
			add(pattern{text: l}, len(l))
		}
	}

	for _, b := range bases[:nb] {
		if b == "" {
			continue
		}
		if !plain(b) { // a plain value is its own text form
			for _, p := range textForms(b) {
				add(pattern{text: p}, len(p))
			}
		}
		// Hex in both cases, in one allocation.
		h := make([]byte, 4*len(b))
		hex.Encode(h, []byte(b))
		for i, c := range h[:2*len(b)] {
			if 'a' <= c && c <= 'f' {
				c -= 'a' - 'A'
			}
			h[2*len(b)+i] = c
		}
		hs := string(h)
		add(pattern{text: hs[:2*len(b)]}, 2*len(b))
		add(pattern{text: hs[2*len(b):]}, 2*len(b))
		base64Patterns(b, minLen, func(p pattern) { add(p, minLen) })
	}
	return dst
}

// plain reports whether s is made only of bytes that no text form escapes
// (JSON, Go, Python, URL, XML/HTML, quote doubling): letters, digits and
// "-_.~", as most tokens are.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '~' {
			return false
		}
	}
	return true
}

// formTexts returns the text of each of secret's forms.
func formTexts(secret string, minLen int) []string {
	var out []string
	for _, p := range forms(secret, minLen) {
		out = append(out, p.text)
	}
	return out
}

// textForms returns escaped forms of s: JSON, Go %q, URL and XML/HTML.
func textForms(s string) []string {
	// Each escaper changes only some bytes: compute only the forms that
	// differ from s (most do not: a password with a few signs).
	var quote, backslash, control, del, nonASCII, markup, apos, slash, uriSpecial bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = true
		case c == '\\':
			backslash = true
		case c < 0x20:
			control = true
		case c == 0x7f:
			del = true
		case c >= 0x80:
			nonASCII = true
		case c == '<' || c == '>' || c == '&':
			markup = true
		case c == '\'':
			apos = true
		case c == '/':
			slash = true
		}
		if !isAlnum(c) && strings.IndexByte("-_.!~*'()", c) < 0 {
			uriSpecial = true
		}
	}
	f := make([]string, 0, 20)

	// JSON. Encoders differ in what they escape beyond '"', '\\' and
	// control characters, so register each common flavour; duplicates are
	// removed by the caller.
	jsonText := quote || backslash || control
	if jsonText {
		f = append(f, jsonEscape(s, false, false)) // UTF-8 kept (JS, Go without HTML escaping, Python ensure_ascii=False)
	}
	if jsonText || nonASCII || del {
		f = append(f,
			jsonEscape(s, true, false), // non-ASCII as \u00e9 (Python default)
			jsonEscape(s, true, true),  // \u00E9 (.NET)
		)
	}
	if jsonText || nonASCII || markup {
		f = append(f, goJSON(s, true), goJSON(s, false)) // Go json.Marshal: <>& as \u003c etc.
	}
	if slash {
		f = append(f, strings.ReplaceAll(jsonEscape(s, false, false), "/", `\/`)) // PHP, some Java
	}

	// Go %q and %+q.
	if quote || backslash || control || del || nonASCII {
		q := strconv.Quote(s)
		f = append(f, q[1:len(q)-1])
		q = strconv.QuoteToASCII(s)
		f = append(f, q[1:len(q)-1])
	}

	// URL: query (space as '+'), path (space as %20) and JavaScript's
	// encodeURIComponent, which leaves !'()* alone.
	f = append(f, url.QueryEscape(s), url.PathEscape(s))
	if uriSpecial {
		f = append(f, uriComponent(s))
	}

	// XML/HTML: html.EscapeString (&#39; &#34;), encoding/xml (also
	// escapes \t \n \r), and the named-entity flavour (&quot; &apos;).
	if markup || quote || apos {
		f = append(f, html.EscapeString(s), namedEntities.Replace(s))
	}
	if markup || quote || apos || control || nonASCII {
		var xb bytes.Buffer
		_ = xml.EscapeText(&xb, []byte(s))
		f = append(f, xb.String())
	}

	// Python repr(), which tracebacks and logs show: single-quoted, with
	// \' when the text holds both quotes, \\ and \n-style escapes.
	if backslash || apos || control || del || nonASCII {
		f = append(f, pythonRepr(s, true), pythonRepr(s, false))
	}

	// Quote doubling (SQL, PowerShell, GitHub expressions).
	if apos {
		f = append(f, strings.ReplaceAll(s, "'", "''"))
	}
	return f
}

var namedEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// jsonEscape escapes s as inside a JSON string. ascii escapes every non-ASCII
// rune as \uXXXX (UTF-16 surrogate pairs above U+FFFF), upper selects the hex
// case. Invalid UTF-8 is kept as is, as most encoders outside Go do.
func jsonEscape(s string, ascii, upper bool) string {
	hex := "0123456789abcdef"
	if upper {
		hex = "0123456789ABCDEF"
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	u := func(r rune) {
		b.WriteString(`\u`)
		for sh := 12; sh >= 0; sh -= 4 {
			b.WriteByte(hex[(r>>sh)&0xF])
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 || (c == 0x7f && ascii) {
					u(rune(c))
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1 || !ascii:
			b.WriteString(s[i : i+size])
		case r > 0xFFFF:
			r -= 0x10000
			u(0xD800 + r>>10)
			u(0xDC00 + r&0x3FF)
		default:
			u(r)
		}
		i += size
	}
	return b.String()
}

// goJSON is encoding/json's escaping of s, without the quotes.
func goJSON(s string, escapeHTML bool) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(escapeHTML)
	if err := e.Encode(s); err != nil {
		panic(fmt.Sprintf("scrub: encoding a string cannot fail: %v", err))
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// uriComponent is JavaScript's encodeURIComponent (UTF-8, upper-case hex).
func uriComponent(s string) string {
	const unreserved = "-_.!~*'()"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(unreserved, c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

// pythonRepr is the inside of Python's repr of s, with ' escaped when
// escapeQuote is set (repr does so when s holds both kinds of quote).
func pythonRepr(s string, escapeQuote bool) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'' && escapeQuote:
			b.WriteString(`\'`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
