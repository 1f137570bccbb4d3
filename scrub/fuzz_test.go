package scrub

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// reference masks text the obvious way: mark every byte covered by any
// occurrence of any pattern (patternsAt(i) lists the patterns that may
// start at position i), then replace each maximal run of marked bytes with
// one Mask. Touching matches merge because their byte ranges are adjacent.
func reference(text string, patternsAt func(i int) []string) string {
	marked := make([]bool, len(text)+1)
	for i := range len(text) {
		for _, p := range patternsAt(i) {
			if p != "" && strings.HasPrefix(text[i:], p) {
				for j := i; j < i+len(p); j++ {
					marked[j] = true
				}
			}
		}
	}
	// Touching runs: mark[j] for j in [a,b) and [b,c) are one run already.
	var b strings.Builder
	for i := 0; i < len(text); {
		if !marked[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(Mask)
		for i < len(text) && marked[i] {
			i++
		}
	}
	return b.String()
}

// fuzzInput turns fuzz arguments into patterns and a text. pats is split on
// '|' (at most 6 patterns of at most 20 bytes). In text, a byte 0x00–0x05
// stands for pattern number b, so occurrences (also overlapping and
// touching ones, by truncation with 0x06) are frequent.
func fuzzInput(pats, text string) ([]string, string) {
	var ps []string
	for _, p := range strings.Split(pats, "|") {
		if len(ps) == 6 {
			break
		}
		ps = append(ps, p[:min(len(p), 20)])
	}
	var b strings.Builder
	for i := 0; i < len(text) && b.Len() < 4096; i++ {
		c := text[i]
		switch {
		case int(c) < len(ps):
			b.WriteString(ps[c])
		case c == 0x06 && i+1 < len(text) && int(text[i+1]) < len(ps):
			// A truncated occurrence: the pattern minus its last byte.
			p := ps[text[i+1]]
			b.WriteString(p[:max(0, len(p)-1)])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return ps, b.String()
}

// splitAt cuts text at the positions given by cuts (each byte a chunk length).
func splitAt(text string, cuts []byte) []string {
	var parts []string
	for k := 0; len(text) > 0; k++ {
		n := len(text)
		if len(cuts) > 0 {
			n = min(n, int(cuts[k%len(cuts)])%17)
		}
		parts = append(parts, text[:n]) // n may be 0: empty writes are legal
		text = text[n:]
		if k > 10000 {
			parts = append(parts, text)
			break
		}
	}
	return parts
}

func streamParts(t *testing.T, s *Scrubber, parts []string) string {
	var out bytes.Buffer
	w := s.NewWriter(&out)
	for _, p := range parts {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func addFuzzSeeds(f *testing.F) {
	f.Add("abcd|cdef", "x\x00\x01x", []byte{1, 2, 3})
	f.Add("abc|abc", "\x00\x00def\x00", []byte{2})
	f.Add("bcd|efg", "a\x00\x01h", []byte{1})
	f.Add("a|aa|aaa", "aaaa baaab", []byte{0, 1, 5})
	f.Add("secret1111|secret", "redact \x00 but \x06\x00 and \x01x", []byte{7, 3})
	f.Add("xyzw|yzwxyz|zw", "\x00\x01\x02\x06\x01\x00", []byte{1, 1, 2})
	f.Add("long-secret-1|ret-1-long|t-1", "pre \x00 \x01 \x06\x00\x02 post", []byte{4, 16, 1})
	f.Add("", "nothing", []byte{})
	f.Add("0123456789abcdef|89abcdef0123|456789abcdef0", "--\x00\x01--\x06\x02\x02 \x06\x00", []byte{3, 11, 5})
	f.Add("aaaaaaaaaaaaaaaaaaaa|aaaaaaaaaaab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", []byte{13, 2})
	f.Add("12345678|23456789|3456789a", "0\x00\x01\x029\x06\x02", []byte{8, 9, 1})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		alpha := "abcAB\n "
		rnd := func(n int) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			return string(b)
		}
		pats := []string{rnd(1 + r.IntN(5)), rnd(1 + r.IntN(8)), rnd(1 + r.IntN(3))}
		text := rnd(10) + "\x00" + rnd(3) + "\x01\x02" + rnd(5) + "\x06\x01" + rnd(20)
		cuts := []byte{byte(r.IntN(17)), byte(r.IntN(17)), byte(r.IntN(17))}
		f.Add(strings.Join(pats, "|"), text, cuts)
	}
}

// FuzzScrub checks, for random patterns and text split at random points,
// that every occurrence of every pattern is masked, every other byte comes
// out unchanged, and streaming (chunked and byte by byte) equals one-shot.
func FuzzScrub(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, pats, text string, cuts []byte) {
		ps, text := fuzzInput(pats, text)
		s := New()
		for _, p := range ps {
			s.AddLiteral(p)
		}
		want := reference(text, func(int) []string { return ps })
		if got := s.String(text); got != want {
			t.Fatalf("String(%q) with %q = %q, want %q", text, ps, got, want)
		}
		if got := streamParts(t, s, splitAt(text, cuts)); got != want {
			t.Fatalf("chunked %q with %q = %q, want %q", splitAt(text, cuts), ps, got, want)
		}
		if got := streamParts(t, s, splitAt(text, []byte{1})); got != want {
			t.Fatalf("bytewise %q with %q = %q, want %q", text, ps, got, want)
		}
	})
}

// FuzzScrubAdd adds patterns partway through a stream. The output must be
// the reference for some switch point D: matches starting before D use the
// old patterns, from D on the old and new ones, where D is no earlier than
// the add point minus the held-back bound (longest old pattern - 1) and no
// later than the add point. Nothing emitted is masked retroactively and
// nothing after the add point escapes the new patterns.
func FuzzScrubAdd(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, pats, text string, cuts []byte) {
		ps, text := fuzzInput(pats, text)
		if len(ps) < 2 {
			return
		}
		old, added := ps[:len(ps)/2], ps[len(ps)/2:]
		s := New()
		maxOld := 0
		for _, p := range old {
			s.AddLiteral(p)
			maxOld = max(maxOld, len(p))
		}
		at := 0
		if len(cuts) > 0 {
			at = int(cuts[0]) * len(text) / 255
		}
		var out bytes.Buffer
		w := s.NewWriter(&out)
		for _, part := range [][]string{splitAt(text[:at], cuts), splitAt(text[at:], cuts)} {
			for _, p := range part {
				w.Write([]byte(p))
			}
			if added != nil {
				for _, p := range added {
					s.AddLiteral(p)
				}
				added = nil
			}
		}
		w.Close()
		got := out.String()
		for d := max(0, at-max(0, maxOld-1)); d <= at; d++ {
			want := reference(text, func(i int) []string {
				if i < d {
					return old
				}
				return ps
			})
			if got == want {
				return
			}
		}
		t.Fatalf("text %q old %q new %q add at %d: got %q, matches no switch point", text, old, ps[len(ps)/2:], at, got)
	})
}

// TestRandomAgainstReference is a deterministic sweep over what the fuzzers
// explore, weighted towards long patterns (sampling step > 1) and planted,
// overlapping and truncated occurrences, so plain go test covers it.
func TestRandomAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const alpha = "ab\nxyé"
	rnd := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for it := range iters {
		minL := 1 + it%20
		var ps []string
		for range 1 + r.IntN(5) {
			ps = append(ps, rnd(minL+r.IntN(8)))
		}
		var b strings.Builder
		for b.Len() < 300 {
			switch r.IntN(4) {
			case 0:
				b.WriteString(ps[r.IntN(len(ps))])
			case 1:
				p := ps[r.IntN(len(ps))]
				b.WriteString(p[:r.IntN(len(p))])
			default:
				b.WriteString(rnd(r.IntN(10)))
			}
		}
		text := b.String()
		s := New()
		for _, p := range ps {
			s.AddLiteral(p)
		}
		want := reference(text, func(int) []string { return ps })
		if got := s.String(text); got != want {
			t.Fatalf("String(%q) with %q = %q, want %q", text, ps, got, want)
		}
		cuts := []byte{byte(r.IntN(17)), byte(r.IntN(17)), byte(r.IntN(17))}
		if got := streamParts(t, s, splitAt(text, cuts)); got != want {
			t.Fatalf("chunked %q with %q = %q, want %q", splitAt(text, cuts), ps, got, want)
		}
		// The held-back bytes never exceed the longest pattern minus one.
		maxLen := 0
		for _, p := range ps {
			maxLen = max(maxLen, len(p))
		}
		w := s.NewWriter(io.Discard)
		for _, part := range splitAt(text, cuts) {
			w.Write([]byte(part))
			if w.Buffered() > maxLen-1 {
				t.Fatalf("holding %d bytes with patterns %q", w.Buffered(), ps)
			}
		}
		if it%10 == 0 {
			if got := streamParts(t, s, splitAt(text, []byte{1})); got != want {
				t.Fatalf("bytewise %q with %q = %q, want %q", text, ps, got, want)
			}
		}
	}
}

// TestShortTierTransitions adds patterns one at a time so the matcher moves
// from short patterns searched alone, to both tiers, to more short patterns
// than the short tier holds (everything sampled), checking against the
// reference after every add.
func TestShortTierTransitions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const alpha = "abcd"
	rnd := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	for round := range 20 {
		s := New()
		var ps []string
		for k := range 40 {
			var p string
			switch {
			case k%7 == 3:
				p = rnd(8 + r.IntN(10)) // long
			default:
				p = rnd(1 + r.IntN(7)) // short
			}
			if round%2 == 1 && k < 5 {
				p = rnd(12 + r.IntN(5)) // start with long ones
			}
			s.AddLiteral(p)
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
			text := rnd(200)
			want := reference(text, func(int) []string { return ps })
			if got := s.String(text); got != want {
				t.Fatalf("round %d after %d adds %q: String(%q) = %q, want %q", round, k+1, ps, text, got, want)
			}
			if got := streamParts(t, s, splitAt(text, []byte{byte(1 + r.IntN(9))})); got != want {
				t.Fatalf("round %d after %d adds %q: stream(%q) = %q, want %q", round, k+1, ps, text, got, want)
			}
			if got, want := s.Len(), len(ps); got != want {
				t.Fatalf("Len = %d, want %d", got, want)
			}
		}
	}
}
