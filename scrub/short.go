package scrub

import "slices"

// shortTier finds the patterns under shortLen bytes (at most maxShort of
// them). They stay out of the sampled tier, where one 4-byte pattern would
// force step 1 for every pattern. The same sampling idea works here with
// 2-byte grams, whose set is small enough for an exact 8 KiB bitmap: a
// 4-byte pattern gives step 3, a 7-byte one step 6. The tier is tiny and
// immutable; Add rebuilds it whenever a short pattern arrives.
type shortTier struct {
	pats  [][]byte // longest first
	q     int      // gram length: min(2, shortest)
	step  int      // min(shortest-q+1, maxStep)
	grams *[1 << 16 / 64]uint64
	first [4]uint64 // first bytes of all patterns
}

func newShortTier(pats [][]byte) *shortTier {
	if len(pats) == 0 {
		return nil
	}
	t := &shortTier{pats: slices.Clone(pats), grams: new([1 << 16 / 64]uint64)}
	slices.SortStableFunc(t.pats, func(a, b []byte) int { return len(b) - len(a) })
	minLen := len(t.pats[len(t.pats)-1])
	t.q = min(2, minLen)
	t.step = min(minLen-t.q+1, maxStep)
	for _, p := range t.pats {
		t.first[p[0]>>6] |= 1 << (p[0] & 63)
		for o := range t.step {
			g := gram(p, o, t.q)
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

// next is matcher.next for the short patterns alone.
func (t *shortTier) next(text []byte, i int, final bool) (int, int) {
	n := len(text)
	if t == nil {
		return n, 0
	}
	step, q, grams := t.step, t.q, t.grams
	j := i + step - 1
	for ; j+q <= n; j += step {
		if g := gram(text, j, q); grams[(g>>6)&1023]&(1<<(g&63)) != 0 {
			for p := j - step + 1; p <= j; p++ {
				if e := t.at(text, p, final); e != 0 {
					return p, e
				}
			}
		}
	}
	if !final { // positions no sample covers: only a prefix can start there
		for p := max(i, j-step+1); p < n; p++ {
			if e := t.at(text, p, final); e != 0 {
				return p, e
			}
		}
	}
	return n, 0
}

// at decides position p like matcher.at.
func (t *shortTier) at(text []byte, p int, final bool) int {
	rest := text[p:]
	if c := rest[0]; t.first[c>>6]&(1<<(c&63)) == 0 {
		return 0
	}
	for _, pat := range t.pats {
		if len(pat) <= len(rest) {
			if string(rest[:len(pat)]) == string(pat) {
				return p + len(pat)
			}
		} else if !final && string(rest) == string(pat[:len(rest)]) {
			return undecided
		}
	}
	return 0
}
