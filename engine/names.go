package engine

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text that came from a blueprint file (ids, keys, names, values) ends up
// in messages that people read in a terminal. It is escaped there, so that
// a control sequence in a file cannot clear the screen or forge a log
// line, and shortened, so that a megabyte of id is not printed whole.

// MaxEchoRunes is how much of an id, key or name a message repeats; longer
// ones are cut, with "…" for what is left out.
const MaxEchoRunes = 64

// maxMessageRunes bounds a whole problem message, a last guard against a
// value echoed without Short.
const maxMessageRunes = 4096

// Short is s escaped (see Printable) and cut to MaxEchoRunes, for names
// written into messages without quotes.
func Short(s string) string {
	return Printable(cut(s, MaxEchoRunes))
}

// Quote is Short in double quotes, as %q would write it: for names in
// messages.
func Quote(s string) string {
	return `"` + strings.ReplaceAll(Short(s), `"`, `\"`) + `"`
}

// cut keeps the first n runes of s, and "…" when it dropped any.
func cut(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

// Printable escapes what a terminal would act on or hide: control
// characters (newline included), format characters (bidirectional
// overrides, zero-width joiners, a byte order mark), line and paragraph
// separators, and invalid UTF-8, each written as Go writes it in a quoted
// string (\n, \x1b, \u202e). Other text, any script, is left as it is.
func Printable(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			goto slow
		}
	}
	return true
slow:
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

// unsafeRune reports a rune a terminal acts on or does not show: control
// (Cc), format (Cf: bidirectional controls, zero-width characters, BOM),
// line and paragraph separators (Zl, Zp), and surrogates and private use
// (which valid text does not hold).
func unsafeRune(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Cs, unicode.Co) || r == utf8.RuneError
}
