package engine

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
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

// Names (block ids, blueprint keys) are text a person reads and compares.
// They must be valid UTF-8 without the characters Printable escapes, are
// compared in Unicode normal form C (so that é typed as one code point and
// as e plus an accent are one name), and two names that differ only by
// characters that look alike (Latin a and Cyrillic а) are reported.

// CheckName reports why s is not a readable name, or nil.
func CheckName(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("it is not valid UTF-8 (byte %d)", i)
		case unsafeRune(r):
			return fmt.Errorf("it holds %U, a control or invisible character", r)
		}
		i += size
	}
	return nil
}

// NormName is a name in Unicode normal form C: the form names are
// compared in.
func NormName(s string) string {
	if isASCII(s) {
		return s
	}
	return norm.NFC.String(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NameChecker finds duplicate and look-alike names among the names of one
// kind (the block ids of a blueprint, the keys of a set). Look-alikes are
// Unicode's confusables (UTS #39 skeletons); two names of ASCII only are
// told apart as typed (l and 1, rn and m stay distinct), so the check
// costs nothing until a name mixes in another script.
type NameChecker struct {
	exact map[string]string // NormName → the name as first written
	looks map[string]string // skeleton → the name as first written
	ascii []string          // ASCII names, before looks is needed
}

// NewNameChecker makes an empty NameChecker.
func NewNameChecker() *NameChecker {
	return &NameChecker{exact: map[string]string{}}
}

// Add records a name. It returns the earlier name that s duplicates
// (same = true) or looks like (same = false), or "" for none.
func (c *NameChecker) Add(s string) (earlier string, same bool) {
	n := NormName(s)
	if first, ok := c.exact[n]; ok {
		return first, true
	}
	c.exact[n] = s
	if c.looks == nil {
		if isASCII(n) {
			c.ascii = append(c.ascii, s)
			return "", false
		}
		c.looks = map[string]string{}
		for _, a := range c.ascii {
			c.looks[confusables.Skeleton(a)] = a
		}
		c.ascii = nil
	}
	sk := confusables.Skeleton(n)
	if first, ok := c.looks[sk]; ok && !(isASCII(first) && isASCII(n)) {
		return first, false
	}
	if _, ok := c.looks[sk]; !ok {
		c.looks[sk] = s
	}
	return "", false
}
