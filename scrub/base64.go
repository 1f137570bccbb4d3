package scrub

import (
	"encoding/base64"
	"strings"
	"unsafe"
)

// Base64 forms, masked by whole groups.
//
// Base64 writes every 3 bytes as a group of 4 characters of 6 bits each. A
// secret inside a larger encoded value (Basic base64(user:secret), a JWT, a
// body) starts at byte r = 0, 1 or 2 of its group, and its bits fill the
// characters of the encoding at one of three alignments. The characters
// whose 6 bits all come from the secret (its core) are the same whatever
// the neighbours are; the characters at either end share bits with them,
// or sit in a group that does. Masking only the core, as GitHub's runner
// does, leaves those groups readable: up to two secret bytes at each end.
//
// So each core is registered with a growth: a match widens back to the
// start of its first group and forward to the end of its last one, padding
// included, over characters of its syntax only. Groups that carry no bit of
// the secret stay readable ("Basic ***"), and so does whatever is not
// base64 around the value.
//
// Cores longer than 64 characters are cut at group boundaries into pieces
// of at most 64, which touch and so mask as one run. PEM and MIME wrap
// base64 at 64 and 76 columns, at group boundaries, so a piece holds at
// most one line break; wrap.go finds the pieces that do.

// syntax is one way base64 characters are written.
type syntax uint8

const (
	stdSyntax syntax = iota // A–Z a–z 0–9 + /, padding =
	urlSyntax               // A–Z a–z 0–9 - _, padding =
	pctSyntax               // the standard alphabet percent-encoded: %2B %2F, padding %3D
	nSyntax
)

// grow widens a match of a base64 piece to the whole groups it shares with
// other bytes: back characters before it, fwd after it (padding included),
// in each syntax whose bit is set in on. The zero grow widens nothing (text
// forms).
type grow struct {
	on        uint8
	back, fwd [nSyntax]uint8
}

// union is a grow that widens at least as far as g and o.
func (g grow) union(o grow) grow {
	g.on |= o.on
	for x := range nSyntax {
		g.back[x] = max(g.back[x], o.back[x])
		g.fwd[x] = max(g.fwd[x], o.fwd[x])
	}
	return g
}

// maxBack is the most characters g widens a match back by.
func (g grow) maxBack() int {
	return int(max(g.back[0], g.back[1], g.back[2]))
}

// widen returns the span that a match text[p:e] covers once grown. ok is
// false when text ends before the forward growth is decided and more input
// may follow (final false).
func (g grow) widen(text []byte, p, e int, final bool) (start, end int, ok bool) {
	start, end = p, e
	for x := range nSyntax {
		if g.on&(1<<x) == 0 {
			continue
		}
		q := p
		for range g.back[x] {
			k := charBefore(text, q, x)
			if k == 0 {
				break
			}
			q -= k
		}
		start = min(start, q)
		q = e
		padded := false
		for range g.fwd[x] {
			k, pad := charAt(text, q, x, padded)
			if k < 0 {
				if !final {
					return 0, 0, false
				}
				break
			}
			if k == 0 {
				break
			}
			q += k
			padded = padded || pad
		}
		end = max(end, q)
	}
	return start, end, true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isStd reports whether c is in the standard base64 alphabet.
func isStd(c byte) bool { return stdClass[c]&stdChar != 0 }

// stdClass classes bytes for wrap.go's line checks.
var stdClass = func() (t [256]uint8) {
	for c := range 256 {
		if isAlnum(byte(c)) || c == '+' || c == '/' {
			t[c] = stdChar
		}
	}
	t['='] = padChar
	return t
}()

const (
	stdChar = 1 << iota // in the standard alphabet
	padChar             // '='
)

// pctChar reports the percent-encoded characters of the standard alphabet
// and its padding; hex digits in either case (RFC 3986 2.1).
func pctChar(a, b byte) (char, pad bool) {
	switch {
	case a == '2' && (b == 'B' || b == 'b' || b == 'F' || b == 'f'):
		return true, false
	case a == '3' && (b == 'D' || b == 'd'):
		return false, true
	}
	return false, false
}

// charBefore returns the length in bytes of the character of syntax x that
// ends at text[q] (padding excluded), or 0 if there is none.
func charBefore(text []byte, q int, x syntax) int {
	if q == 0 {
		return 0
	}
	c := text[q-1]
	switch x {
	case stdSyntax:
		if isStd(c) {
			return 1
		}
	case urlSyntax:
		if isAlnum(c) || c == '-' || c == '_' {
			return 1
		}
	case pctSyntax:
		if isAlnum(c) {
			if q >= 3 && text[q-3] == '%' {
				if char, _ := pctChar(text[q-2], c); char {
					return 3
				}
			}
			return 1
		}
	}
	return 0
}

// charAt returns the length in bytes of the character or padding of syntax
// x that starts at text[q], and whether it is padding; 0 if there is none
// (after padding, only padding), -1 if text ends before that is known.
func charAt(text []byte, q int, x syntax, padded bool) (int, bool) {
	if q >= len(text) {
		return -1, false
	}
	c := text[q]
	if x == pctSyntax {
		if c == '%' {
			if q+3 > len(text) {
				if q+2 == len(text) && text[q+1] != '2' && text[q+1] != '3' {
					return 0, false
				}
				return -1, false
			}
			char, pad := pctChar(text[q+1], text[q+2])
			if pad || char && !padded {
				return 3, pad
			}
			return 0, false
		}
		if isAlnum(c) && !padded {
			return 1, false
		}
		return 0, false
	}
	switch {
	case c == '=':
		return 1, true
	case padded:
		return 0, false
	case isAlnum(c), x == stdSyntax && (c == '+' || c == '/'), x == urlSyntax && (c == '-' || c == '_'):
		return 1, false
	}
	return 0, false
}

// maxPiece is the longest piece of a core, in characters; see above.
const maxPiece = 64

// base64Patterns emits the pieces of the cores of s at the three
// alignments, in the standard, URL and percent-encoded syntaxes, each with
// its growth. Cores shorter than minLen characters (and empty ones) are
// left out.
func base64Patterns(s string, minLen int, emit func(pattern)) {
	n := len(s)
	// The three encodings in one string, which every piece is a part of.
	var encs [3]string
	{
		buf := make([]byte, 0, n+2)
		all := make([]byte, 0, 3*base64.StdEncoding.EncodedLen(n+2))
		var at [4]int
		for r := range 3 {
			buf = append(buf[:0], "\x00\x00"[:r]...)
			buf = append(buf, s...)
			all = base64.StdEncoding.AppendEncode(all, buf)
			at[r+1] = len(all)
		}
		// all is not written to again: its bytes become the string.
		str := unsafe.String(unsafe.SliceData(all), len(all))
		for r := range 3 {
			encs[r] = str[at[r]:at[r+1]]
		}
	}
	for r := range 3 {
		enc := encs[r]
		c0 := (8*r + 5) / 6        // first character made of the secret's bits only
		c1 := 8 * (r + n) / 6      // end of the last such character
		cEnd := (8*(r+n) + 5) / 6  // end of the last character with any of its bits
		gEnd := (cEnd + 3) / 4 * 4 // end of the last group with any of its bits
		if c1-c0 < max(minLen, 1) {
			continue
		}
		// Cut into the fewest pieces of at most maxPiece characters, at
		// group boundaries, of about equal length (at least 26 characters
		// each when there are several).
		k := (c1 - c0 + maxPiece - 5) / (maxPiece - 4)
		for j := range k {
			a, b := c0, c1
			if j > 0 {
				a = (c0 + j*(c1-c0)/k) / 4 * 4
			}
			if j < k-1 {
				b = (c0 + (j+1)*(c1-c0)/k) / 4 * 4
			}
			var g grow
			if j == 0 {
				g.back = [nSyntax]uint8{uint8(c0), uint8(c0), uint8(c0)}
			}
			if j == k-1 {
				f := uint8(gEnd - c1)
				g.fwd = [nSyntax]uint8{f, f, f}
			}
			piece := enc[a:b]
			if !strings.ContainsAny(piece, "+/") {
				// The same text in every syntax.
				g.on = 1<<stdSyntax | 1<<urlSyntax | 1<<pctSyntax
				emit(pattern{text: piece, grow: g})
				continue
			}
			emit(withSyntax(piece, g, stdSyntax))
			emit(withSyntax(inSyntax(piece, urlSyntax), g, urlSyntax))
			emit(withSyntax(inSyntax(piece, pctSyntax), g, pctSyntax))
		}
	}
}

// inSyntax writes standard base64 text in syntax x.
func inSyntax(std string, x syntax) string {
	b := make([]byte, 0, len(std)+8)
	for i := 0; i < len(std); i++ {
		switch c := std[i]; {
		case c == '+' && x == urlSyntax:
			b = append(b, '-')
		case c == '/' && x == urlSyntax:
			b = append(b, '_')
		case c == '+' && x == pctSyntax:
			b = append(b, "%2B"...)
		case c == '/' && x == pctSyntax:
			b = append(b, "%2F"...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func withSyntax(text string, g grow, x syntax) pattern {
	g.on = 1 << x
	return pattern{text: text, grow: g}
}
