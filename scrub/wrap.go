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

// allStd reports whether b is all standard base64 characters.
func allStd(b []byte) bool {
	for _, c := range b {
		if !isStd(c) {
			return false
		}
	}
	return true
}

// joins appends to spans the pieces found across the line breaks of
// wrapped base64 in text, and lowers stop to hold back a line that could
// be the first half of such a pair when the second half has not arrived
// yet. lineStart says whether text[0] starts a line; if not, the first
// (partial) line is not considered: it would have been held back whole if
// it could matter.
func (m *matcher) joins(text []byte, lineStart, final bool, spans []span, stop int, jb *joinBuf) ([]span, int) {
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
			tail := text[ls:]
			if len(tail) > 0 && tail[len(tail)-1] == '\r' {
				tail = tail[:len(tail)-1]
			}
			if !final && len(tail) <= mimeWidth && allStd(tail) {
				stop = min(stop, ls)
			}
			if prev >= 0 {
				spans, stop = m.join(text, prev, prevEnd, ls, final, spans, stop, jb)
			}
			return spans, stop
		}
		le := ls + i
		if prev >= 0 {
			spans, stop = m.join(text, prev, prevEnd, ls, final, spans, stop, jb)
		}
		ce := le // end of the line's content
		if ce > ls && text[ce-1] == '\r' {
			ce--
		}
		prev, prevEnd = -1, -1
		if isWrapWidth(ce-ls) && allStd(text[ls:ce]) {
			prev, prevEnd = ls, ce
		}
		ls = le + 1
	}
}

// join scans the wrapped line text[a0:a1] joined to the base64 that starts
// the next line at b0, and appends the spans of the matches that cross the
// break (the break included). If the next line may still grow into the
// piece, it holds back the wrapped line instead.
func (m *matcher) join(text []byte, a0, a1, b0 int, final bool, spans []span, stop int, jb *joinBuf) ([]span, int) {
	b1 := b0
	for b1 < len(text) && b1-b0 < mimeWidth && (isStd(text[b1]) || text[b1] == '=') {
		b1++
	}
	if !final && b1 == len(text) && b1-b0 < mimeWidth {
		return spans, min(stop, a0)
	}
	buf := append(jb[:0], text[a0:a1]...)
	buf = append(buf, text[b0:b1]...)
	half := a1 - a0
	scan := m.scanner(buf, true)
	for i := 0; i < half; {
		p, s, e := scan.next(i)
		if p >= half {
			break
		}
		if e > half {
			spans = append(spans, span{a0 + s, b0 + e - half})
		}
		i = p + 1
	}
	return spans, stop
}
