package scrub

// Mask is the token that replaces each maximal run of masked bytes.
const Mask = "***"

var maskBytes = []byte(Mask)

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
}

// mask applies union masking to text. runEnd is the end of the masked run
// carried over from earlier input (relative to text[0]; negative for none):
// bytes before it are already represented by an emitted Mask. out is scratch
// space that is appended to when something is masked.
//
// Union rule: every occurrence of every pattern masks its byte range; a
// match that starts at or before the current run's end (overlap or touch)
// extends the run, otherwise it starts a new run and one Mask is written.
// Writing Mask at the start of a run, not its end, is what lets a stream emit
// it before knowing how far the run reaches.
func (m *matcher) mask(text []byte, runEnd int, final bool, out []byte) maskResult {
	emitted := max(0, runEnd) // bytes before this are emitted or masked
	changed := false
	i := 0
	stop := len(text)
	sc := m.scanner(text, final)
	for {
		p, e := sc.next(i)
		if p >= len(text) {
			break
		}
		if e == undecided {
			stop = p
			break
		}
		if p <= runEnd {
			runEnd = max(runEnd, e)
		} else {
			if !changed {
				changed = true
				if cap(out) == 0 {
					// One-shot: size for the usual case, output no
					// longer than input plus a mask or two.
					out = make([]byte, 0, len(text)+2*len(Mask))
				}
				out = out[:0]
			}
			out = append(out, text[emitted:p]...)
			out = append(out, maskBytes...)
			runEnd = e
		}
		emitted = max(emitted, runEnd)
		i = p + 1
	}
	from := min(emitted, stop)
	if changed {
		out = append(out, text[from:stop]...)
	}
	return maskResult{stop: stop, runEnd: runEnd, changed: changed, from: from, out: out}
}
