package scrub

import "slices"

// shortTier finds the patterns under shortLen bytes (at most maxShort of
// them). They stay out of the sampled tier, where one 4-byte pattern would
// force step 1 for every pattern. The same sampling idea works here with
// 2-byte grams, whose set is small enough for an exact 8 KiB bitmap: a
// 4-byte pattern gives step 3, a 7-byte one step 6. The tier is tiny and
// immutable; Add rebuilds it whenever a short pattern arrives.
type shortTier struct {
	pats  []entry // longest first
	grows bool    // some pattern has a growth
	q     int     // gram length: min(2, shortest)
	step  int     // min(shortest-q+1, maxStep)
	grams *[1 << 16 / 64]uint64
	first [4]uint64 // first bytes of all patterns
}

// newShortTier builds the tier; entries with the same text merge their
// growths.
func newShortTier(pats []entry) *shortTier {
	if len(pats) == 0 {
		return nil
	}
	t := &shortTier{grams: new([1 << 16 / 64]uint64), pats: longestFirst(slices.Clone(pats))}
	for _, e := range t.pats {
		t.grows = t.grows || e.grow.on != 0
	}
	minLen := len(t.pats[len(t.pats)-1].pat)
	t.q = min(2, minLen)
	t.step = min(minLen-t.q+1, maxStep)
	for _, e := range t.pats {
		p := e.pat
		t.first[p[0]>>6] |= 1 << (p[0] & 63)
		for o := range t.step {
			g := gramStr(p, o, t.q)
			t.grams[g>>6] |= 1 << (g & 63)
		}
	}
	return t
}

func gram(b []byte, i, q int) uint {
	if q == 1 {
		return uint(b[i])
	}
	return uint(b[i]) | uint(b[i+1])<<8
}

func gramStr(s string, i, q int) uint {
	if q == 1 {
		return uint(s[i])
	}
	return uint(s[i]) | uint(s[i+1])<<8
}

// next is matcher.next for the short patterns alone.
func (t *shortTier) next(text []byte, i int, final bool) (int, int, int) {
	n := len(text)
	if t == nil {
		return n, n, 0
	}
	step, q, grams := t.step, t.q, t.grams
	j := i + step - 1
	for ; j+q <= n; j += step {
		if g := gram(text, j, q); grams[(g>>6)&1023]&(1<<(g&63)) != 0 {
			for p := j - step + 1; p <= j; p++ {
				if s, e := t.at(text, p, final); e != 0 {
					return p, s, e
				}
			}
		}
	}
	if !final { // positions no sample covers: only a prefix can start there
		for p := max(i, j-step+1); p < n; p++ {
			if s, e := t.at(text, p, final); e != 0 {
				return p, s, e
			}
		}
	}
	return n, n, 0
}

// at decides position p like matcher.at.
func (t *shortTier) at(text []byte, p int, final bool) (int, int) {
	if c := text[p]; t.first[c>>6]&(1<<(c&63)) == 0 {
		return p, 0
	}
	return matchAt(t.pats, t.grows, text, p, final)
}
