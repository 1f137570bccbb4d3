package scrub

import "bytes"

// Wrapped base64.
//
// PEM wraps base64 at 64 columns, MIME (and Python's encodebytes, coreutils'
// base64) at 76. The line breaks ("\n" or "\r\n") fall at group boundaries,
// so the pieces of a secret's cores (base64.go) hold at most one, and a
// piece that does is split over a line that is exactly 64 or 76 base64
// characters long and the start of the next. joins scans each such pair of
// lines joined without the break, and masks the pieces it finds across the
// break together with the break.

const (
	pemWidth  = 64
	mimeWidth = 76
)

func isWrapWidth(n int) bool { return n == pemWidth || n == mimeWidth }

// stdRun returns the length of the run of standard base64 characters and
// padding that starts b, at most max bytes long, and whether it holds
// padding.
func stdRun(b []byte, limit int) (n int, padded bool) {
	b = b[:min(len(b), limit)]
	// Eight at a time while all are in the alphabet: independent loads,
	// one branch.
	for ; n+8 <= len(b); n += 8 {
		c := b[n : n+8 : n+8]
		if stdClass[c[0]]&stdClass[c[1]]&stdClass[c[2]]&stdClass[c[3]]&
			stdClass[c[4]]&stdClass[c[5]]&stdClass[c[6]]&stdClass[c[7]]&stdChar == 0 {
			break
		}
	}
	for ; n < len(b); n++ {
		switch stdClass[b[n]] {
		case 0:
			return n, padded
		case padChar:
			padded = true
		}
	}
	return n, padded
}

// joins appends to spans the pieces found across the line breaks of
// wrapped base64 in text, and lowers stop to hold back a line that could
// be the first half of such a pair when the second half has not arrived
// yet. lineStart says whether text[0] starts a line; if not, the first
// (partial) line is not considered: it would have been held back whole if
// it could matter.
func (m *matcher) joins(text []byte, lineStart, final bool, spans []span, stop int) ([]span, int) {
	ls := 0 // start of the current line
	if !lineStart {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return spans, stop
		}
		ls = i + 1
	}
	prev, prevEnd := -1, -1 // the previous line, if wrapped base64: text[prev:prevEnd]
	for {
		i := bytes.IndexByte(text[ls:], '\n')
		if i < 0 {
			// The last line, unterminated: it may become a wrapped
			// line, or continue one.
			end := len(text)
			if end > ls && text[end-1] == '\r' {
				end--
			}
			if !final && end-ls <= mimeWidth {
				if run, padded := stdRun(text[ls:end], mimeWidth); run == end-ls && !padded {
					stop = min(stop, ls)
				}
			}
			if prev >= 0 {
				run, _ := stdRun(text[ls:], joinReach)
				spans, stop = m.join(text, prev, prevEnd, ls, run, final, spans, stop)
			}
			return spans, stop
		}
		le := ls + i
		if prev >= 0 {
			run, _ := stdRun(text[ls:le], joinReach)
			spans, stop = m.join(text, prev, prevEnd, ls, run, final, spans, stop)
		}
		ce := le // end of the line's content
		if ce > ls && text[ce-1] == '\r' {
			ce--
		}
		prev, prevEnd = -1, -1
		if isWrapWidth(ce - ls) {
			if run, padded := stdRun(text[ls:ce], mimeWidth); run == ce-ls && !padded {
				prev, prevEnd = ls, ce
			}
		}
		ls = le + 1
	}
}

// join scans the end of the wrapped line text[a0:a1] joined to the start
// of the next line, whose run of base64 starts at b0 and is run bytes long
// (at most joinReach), and appends the spans of the matches that cross
// the break (the break included). If the next line may still grow into
// the piece, it holds back the wrapped line instead.
func (m *matcher) join(text []byte, a0, a1, b0, run int, final bool, spans []span, stop int) ([]span, int) {
	if !final && b0+run == len(text) && run < joinReach {
		return spans, min(stop, a0)
	}
	// A piece that crosses the break starts in the last maxPiece-1
	// characters of the line and ends in the first maxPiece-1 of the
	// next; its growth reaches 3 characters further.
	a := max(a0, a1-joinReach)
	var joined [2 * joinReach]byte
	buf := append(joined[:0], text[a:a1]...)
	buf = append(buf, text[b0:b0+min(run, joinReach)]...)
	half := a1 - a
	first := max(0, half-(maxPiece-1)) // the first start that can cross
	scan := m.scanner(buf, true)
	for i := first; i < half; {
		p, s, e := scan.next(i)
		if p >= half {
			break
		}
		if e > half {
			spans = append(spans, span{a + s, b0 + e - half})
		}
		i = p + 1
	}
	return spans, stop
}

// joinReach is how far from a break join looks on either side.
const joinReach = maxPiece - 1 + 3
