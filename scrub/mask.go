package scrub

import (
	"slices"
	"strings"
)

// Mask is the token that replaces each maximal run of masked bytes.
const Mask = "***"

var maskBytes = []byte(Mask)

// span is a byte range [start, end) of text to mask.
type span struct{ start, end int }

// maskResult describes what mask decided about a prefix of text.
type maskResult struct {
	// stop: positions before stop are decided; text[stop:] must be kept and
	// presented again, followed by more input (or with final set).
	stop int
	// runEnd: end of the current masked run, relative to text. The run
	// touches stop when runEnd == stop, so a match starting at stop merges
	// into it. runEnd < 0 means no run can touch text[0].
	runEnd int
	// changed reports whether out holds the output. If false the output is
	// exactly text[from:stop] and no copy was made (the common case).
	changed bool
	from    int
	out     []byte
	// marked: how many of the marks passed to mask fell before stop; mask
	// replaced each of those with its position in the output.
	marked int
}

// mask applies union masking to text. runEnd is the end of the masked run
// carried over from earlier input (relative to text[0]; negative for none):
// bytes before it are already represented by an emitted Mask. lineStart
// says whether text[0] starts a line. out is appended to when something is
// masked (a nil out makes a new slice; the result holds it), spans when
// something matches (returned apart, sorted by start, so that a one-shot
// caller's spans can stay on its stack).
// marks are input positions (sorted; see Writer.Mark): mask replaces each
// one before stop by the position in the output where the output for the
// bytes before it ends. A Mask belongs to the bytes before a mark when its
// run starts before the mark.
//
// Union rule: every occurrence of every pattern masks its byte range, grown
// to whole groups for base64 (base64.go); a range that starts at or before
// the current run's end (overlap or touch) extends the run, otherwise it
// starts a new run and one Mask is written. Writing Mask at the start of a
// run, not its end, is what lets a stream emit it before knowing how far
// the run reaches.
//
// When final is false, mask holds back (stop before) every byte that more
// input could still put in a range: the start of an undecided match, the
// base64 characters a match in the next write could grow back over, and a
// line that could be half of a wrapped piece (wrap.go).
func (m *matcher) mask(text []byte, runEnd int, lineStart, final bool, out []byte, spans []span, marks []int) (maskResult, []span) {
	n := len(text)
	stop := n
	spans = spans[:0]
	scan := m.scanner(text, final)
	for i := 0; ; {
		p, s, e := scan.next(i)
		if p >= n {
			break
		}
		if e == undecided {
			stop = m.holdFrom(text, p)
			break
		}
		spans = append(spans, span{s, e})
		i = p + 1
	}
	if !final {
		stop = min(stop, m.holdFrom(text, n))
	}
	if m.wraps {
		spans, stop = m.joins(text, lineStart, final, spans, stop)
	}
	// Spans come in order of match position; growth and wrapped pieces
	// can start them earlier.
	if !slices.IsSortedFunc(spans, cmpSpan) {
		slices.SortFunc(spans, cmpSpan)
	}

	emitted := max(0, runEnd) // bytes before this are emitted or masked
	changed := false
	k := 0 // marks placed in the output
	for _, sp := range spans {
		if sp.start >= stop {
			break // presented again with the held-back bytes
		}
		if sp.start <= runEnd {
			runEnd = max(runEnd, sp.end)
		} else {
			if !changed {
				changed = true
				if cap(out) == 0 {
					// One-shot: size for the usual case, output no
					// longer than input plus a mask or two.
					out = make([]byte, 0, n+2*len(Mask))
				}
				out = out[:0]
			}
			for ; k < len(marks) && marks[k] <= sp.start; k++ {
				marks[k] = len(out) + max(0, marks[k]-emitted)
			}
			out = append(out, text[emitted:sp.start]...)
			out = append(out, maskBytes...)
			runEnd = sp.end
		}
		emitted = max(emitted, runEnd)
	}
	from := min(emitted, stop)
	for ; k < len(marks) && marks[k] <= stop; k++ {
		marks[k] = len(out) + max(0, marks[k]-from)
	}
	if changed {
		out = append(out, text[from:stop]...)
	}
	return maskResult{stop: stop, runEnd: runEnd, changed: changed, from: from, out: out, marked: k}, spans
}

func cmpSpan(a, b span) int { return a.start - b.start }

// holdFrom returns where to hold back from so that a match at p or after
// it (more input, when p is len(text)) can still grow back: p moved back
// over up to growBack base64 characters of any syntax, the first of which
// may be a percent escape that p cuts (or that more input will complete).
func (m *matcher) holdFrom(text []byte, p int) int {
	if m.growBack == 0 || p == 0 || !mayEndChar[text[p-1]] {
		return p // the usual case: a line ends in '\n'
	}
	k := 0
	switch {
	case p >= 1 && text[p-1] == '%':
		p, k = p-1, 1
	case p >= 2 && text[p-2] == '%':
		p, k = p-2, 1
	}
	for ; k < m.growBack; k++ {
		c := max(charBefore(text, p, stdSyntax), charBefore(text, p, urlSyntax), charBefore(text, p, pctSyntax))
		if c == 0 {
			break
		}
		p -= c
	}
	return p
}

// mayEndChar marks the bytes that may end a base64 character of some
// syntax, or a percent escape cut short.
var mayEndChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlnum(byte(c)) || strings.IndexByte("+/-_%", byte(c)) >= 0
	}
	return t
}()
