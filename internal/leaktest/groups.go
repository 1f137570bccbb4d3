package leaktest

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Encoding is one way output carries bytes in groups of characters: base64
// (3 bytes in 4 characters) in either alphabet, padded or not, wrapped as
// PEM and MIME wrap it or percent-encoded, and hex (1 byte in 2). A group
// that carries a byte of a secret gives that byte away, whatever its other
// bytes are.
type Encoding struct {
	Name  string
	chars func(b []byte) []string // the encoded characters, each as written
	bytes int                     // bytes per group
	width int                     // characters per group
	wrap  int                     // characters per line; 0: one line
	nl    string                  // the line break
}

func base64Chars(enc *base64.Encoding) func([]byte) []string {
	return func(b []byte) []string { return strings.Split(enc.EncodeToString(b), "") }
}

func hexChars(upper bool) func([]byte) []string {
	return func(b []byte) []string {
		h := hex.EncodeToString(b)
		if upper {
			h = strings.ToUpper(h)
		}
		return strings.Split(h, "")
	}
}

// percentChars is standard base64 as url.QueryEscape writes it.
func percentChars(b []byte) []string {
	cs := base64Chars(base64.StdEncoding)(b)
	for i, c := range cs {
		switch c {
		case "+":
			cs[i] = "%2B"
		case "/":
			cs[i] = "%2F"
		case "=":
			cs[i] = "%3D"
		}
	}
	return cs
}

// Encodings are the encodings whose groups the scrubber masks whole.
var Encodings = []Encoding{
	{Name: "std", chars: base64Chars(base64.StdEncoding), bytes: 3, width: 4},
	{Name: "std-raw", chars: base64Chars(base64.RawStdEncoding), bytes: 3, width: 4},
	{Name: "url", chars: base64Chars(base64.URLEncoding), bytes: 3, width: 4},
	{Name: "url-raw", chars: base64Chars(base64.RawURLEncoding), bytes: 3, width: 4},
	{Name: "percent", chars: percentChars, bytes: 3, width: 4},
	{Name: "pem", chars: base64Chars(base64.StdEncoding), bytes: 3, width: 4, wrap: 64, nl: "\n"},
	{Name: "pem-crlf", chars: base64Chars(base64.StdEncoding), bytes: 3, width: 4, wrap: 64, nl: "\r\n"},
	{Name: "mime", chars: base64Chars(base64.StdEncoding), bytes: 3, width: 4, wrap: 76, nl: "\r\n"},
	{Name: "mime-lf", chars: base64Chars(base64.StdEncoding), bytes: 3, width: 4, wrap: 76, nl: "\n"},
	{Name: "hex", chars: hexChars(false), bytes: 1, width: 2},
	{Name: "hex-upper", chars: hexChars(true), bytes: 1, width: 2},
}

// Encode returns b encoded, and for each byte of the text whether it is
// a character of a group that carries a byte of b[lo:hi] (line breaks are
// not).
func (e Encoding) Encode(b []byte, lo, hi int) (string, []bool) {
	var text strings.Builder
	var secret []bool
	first, last := lo/e.bytes, (hi-1)/e.bytes
	for k, c := range e.chars(b) {
		if e.wrap > 0 && k > 0 && k%e.wrap == 0 {
			text.WriteString(e.nl)
			secret = append(secret, make([]bool, len(e.nl))...)
		}
		text.WriteString(c)
		g := k / e.width
		for range c {
			secret = append(secret, first <= g && g <= last)
		}
	}
	return text.String(), secret
}

// CheckGroups returns an error if out, which must be text with runs of it
// replaced by mask, may show any byte that secret (from Encode) marks. Where
// a visible piece of out could sit in more than one place in text (a text
// that repeats itself), every place counts as visible, so such a text can
// fail although the output is right.
func CheckGroups(text string, secret []bool, out, mask string) error {
	if strings.Contains(text, mask) {
		return fmt.Errorf("the input %q holds the mask %q itself", text, mask)
	}
	segs := strings.Split(out, mask)
	k := len(segs) - 1
	// Earliest and latest place of each visible piece: the first is a
	// prefix, the last a suffix, and each mask hides at least one byte.
	early := make([]int, len(segs))
	late := make([]int, len(segs))
	pos := 0
	for i, s := range segs {
		j := strings.Index(text[min(pos, len(text)):], s)
		if i == k {
			j = len(text) - len(s) - pos
		}
		if j < 0 || i == 0 && j != 0 || !strings.HasPrefix(text[pos+j:], s) {
			return fmt.Errorf("%q is not %q with masked runs", out, text)
		}
		early[i] = pos + j
		pos = early[i] + len(s) + 1
	}
	pos = len(text)
	for i := k; i >= 0; i-- {
		s := segs[i]
		j := strings.LastIndex(text[:max(pos, 0)], s)
		if i == 0 {
			j = 0
		}
		if j < 0 || i == k && j != len(text)-len(s) || !strings.HasPrefix(text[j:], s) || j+len(s) > pos {
			return fmt.Errorf("%q is not %q with masked runs", out, text)
		}
		late[i] = j
		pos = j - 1
	}
	// Every place of a piece between its earliest and latest counts.
	for i, s := range segs {
		for j := early[i]; j <= late[i]; j++ {
			if !strings.HasPrefix(text[j:], s) {
				continue
			}
			for p := j; p < j+len(s); p++ {
				if secret[p] {
					return fmt.Errorf("%q may show byte %d of %q, in a group that carries the secret", out, p, text)
				}
			}
		}
	}
	return nil
}
