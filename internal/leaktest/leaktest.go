// Package leaktest is for the tests that plant canary secrets in a run
// and check its outputs: one list of the forms a secret must never take
// there, so that every such test checks the same thing.
package leaktest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Forms are the forms of secret that must never leave a run: raw, each
// line of a multi-line secret, JSON-escaped (with and without Go's HTML
// escapes), Go %q, URL query and path escaped, hex in either case, and
// base64 in the four alphabets of the whole 3-byte groups at each byte
// offset, which no neighbouring bytes can change. (The groups a secret
// shares with its neighbours must not show either: see CheckGroups.)
func Forms(secret string) []string {
	q := strconv.Quote(secret)
	h := hex.EncodeToString([]byte(secret))
	out := []string{secret, jsonEscaped(secret, true), jsonEscaped(secret, false), q[1 : len(q)-1], url.QueryEscape(secret), url.PathEscape(secret), h, strings.ToUpper(h)}
	out = append(out, regexp.MustCompile(`\r?\n`).Split(secret, -1)...)
	for k := 0; k < 3 && k < len(secret); k++ {
		tail := []byte(secret[k:])
		whole := tail[:len(tail)/3*3]
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(whole))
		}
	}
	return out
}

// Find returns the first form of any of the secrets that text holds; forms
// under 4 bytes are not looked for (the scrubber does not mask them alone).
func Find(text string, secrets ...string) (string, bool) {
	for _, s := range secrets {
		for _, f := range Forms(s) {
			if len(f) >= 4 && strings.Contains(text, f) {
				return f, true
			}
		}
	}
	return "", false
}

func jsonEscaped(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s)
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(b.String()), `"`), `"`)
}
