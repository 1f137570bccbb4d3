package scrub

import (
	"math/bits"
	"slices"
)

// matcher finds every pattern in a byte slice in one left-to-right pass.
//
// Design (a sampled q-gram filter with exact verification):
//
//   - Every pattern is at least minLen bytes long. Let w = min(8, minLen)
//     and step = min(minLen-w+1, 8). Any occurrence of a pattern at p covers
//     the positions p .. p+minLen-1, so among every step consecutive
//     positions j the scan samples, one lies in p .. p+step-1, and the w
//     bytes at j equal the pattern's w bytes at offset j-p < step.
//   - So the scan loads w bytes (one 8-byte load) only every step bytes,
//     hashes them into a Bloom filter that stays in cache, and only on a hit
//     looks up which offsets of which patterns that gram occurs at; each
//     offset names one candidate start p, whose first w bytes are looked up
//     in a table of full patterns with that prefix, longest first, and
//     compared exactly.
//   - With realistic secrets (forms of 12+ bytes) step is 5, so the common
//     case costs a load, a multiply and a bit test per 5 bytes. A 4-byte
//     pattern makes step 1: every position is tested, about half as fast.
//
// Longest first yields the longest match at a position, which is all union
// masking needs from that position. Candidates are produced in increasing
// position order, so next() returns the first one.
//
// Measured against the alternatives in DESIGN-NOTES: strings.Replacer and
// the Aho-Corasick modules both follow a pointer per input byte; this loop
// touches a 32 KiB filter every few bytes.
//
// A matcher is immutable once published; Scrubber.Add builds a new one by
// copying what changes (copy-on-write), so readers never lock.
type matcher struct {
	minLen int    // shortest pattern
	w      int    // gram and key length: min(8, minLen); 0 when empty
	step   int    // sampling distance: min(minLen-w+1, 8)
	wmask  uint64 // low w*8 bits
	maxLen int    // longest pattern
	npat   int    // number of patterns

	filter *bloom // every gram at offsets 0..step-1 (offset 0 = a start key)

	table  []slot // start key (first w bytes) -> patterns; load <= 1/2
	tshift uint
	nkeys  int

	grams  []gslot // gram -> bit set of offsets (< step) it occurs at; load <= 1/2
	gshift uint
	ngrams int

	// pre[r] is a bitmap of the hashes of the first r bytes of every pattern,
	// for r < w. It answers "could the last r bytes of a write start a
	// pattern?" conservatively (a false positive only holds bytes back a
	// little longer), which lets a Writer emit a whole line without waiting
	// for more input in the usual case.
	pre [8][]uint64
}

// slot is one table entry: the patterns whose first w bytes are key,
// longest first. pats == nil marks an empty slot (key 0 is a valid key).
type slot struct {
	key  uint64
	pats []string
}

// gslot is one gram table entry; offs == 0 marks an empty slot.
type gslot struct {
	key  uint64
	offs uint8
}

const (
	hashMul1 = 0x9E3779B97F4A7C15 // golden-ratio multiplier (Fibonacci hashing)
	hashMul2 = 0xC2B2AE3D27D4EB4F // a different odd multiplier for the tables
	preBits  = 12                 // 4096-bit prefix bitmaps
	maxStep  = 8                  // offsets fit in a uint8
)

// bloom is a blocked Bloom filter: each key sets two bits in one 64-bit
// word, chosen by the top bits of one multiplicative hash. Its fixed size
// (32 KiB, 2^18 bits) keeps it in cache and makes every shift a constant and
// every index provably in range, so the hot loop has no bounds checks on it.
// False-positive rate ~2% at 20,000 grams (1,000 secrets with forms, step
// 5); a false positive costs one table probe.
type bloom [1 << 12]uint64

func bloomHash(key uint64) (word uint64, bits uint64) {
	h := key * hashMul1
	return h >> 52, 1<<((h>>46)&63) | 1<<((h>>40)&63)
}

func (f *bloom) add(key uint64) {
	w, b := bloomHash(key)
	f[w] |= b
}

func (f *bloom) has(key uint64) bool {
	w, b := bloomHash(key)
	return f[w]&b == b
}

// emptyMatcher matches nothing.
var emptyMatcher = &matcher{}

// load8 reads 8 bytes little-endian (compiles to one load).
func load8(b []byte, i int) uint64 {
	b = b[i : i+8 : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// loadN reads len(b) <= 8 bytes little-endian.
func loadN(b []byte) uint64 {
	var k uint64
	for j := len(b) - 1; j >= 0; j-- {
		k = k<<8 | uint64(b[j])
	}
	return k
}

func loadStr(s string) uint64 {
	var k uint64
	for j := len(s) - 1; j >= 0; j-- {
		k = k<<8 | uint64(s[j])
	}
	return k
}

func maskFor(w int) uint64 {
	if w >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(w)) - 1
}

// buildMatcher builds a matcher from scratch. pats must be distinct and non-empty.
func buildMatcher(pats []string) *matcher {
	if len(pats) == 0 {
		return emptyMatcher
	}
	m := &matcher{minLen: len(pats[0])}
	for _, p := range pats {
		m.minLen = min(m.minLen, len(p))
	}
	m.w = min(8, m.minLen)
	m.step = min(m.minLen-m.w+1, maxStep)
	m.wmask = maskFor(m.w)
	for r := 1; r < m.w; r++ {
		m.pre[r] = make([]uint64, 1<<preBits/64)
	}
	m.filter = new(bloom)
	m.table, m.tshift = makeTable[slot](len(pats))
	m.grams, m.gshift = makeTable[gslot](len(pats) * m.step)
	for _, p := range pats {
		m.insert(p)
	}
	return m
}

// with returns a copy of m that also matches pats (distinct, new, non-empty);
// all is every pattern, pats included. Pattern strings and untouched buckets
// are shared with m, which stays valid for its readers.
func (m *matcher) with(all, pats []string) *matcher {
	if len(pats) == 0 {
		return m
	}
	if m.npat == 0 {
		return buildMatcher(all)
	}
	for _, p := range pats {
		if len(p) < m.minLen {
			// w and step derive from the shortest pattern: rebuild.
			return buildMatcher(all)
		}
	}
	n := *m
	for r := 1; r < n.w; r++ {
		n.pre[r] = slices.Clone(m.pre[r])
	}
	f := *m.filter
	n.filter = &f
	if (n.nkeys+len(pats))*2 > len(n.table) {
		n.table, n.tshift = makeTable[slot](n.nkeys + len(pats))
		n.nkeys = 0
		for _, s := range m.table {
			if s.pats != nil {
				*n.findSlot(s.key) = s
				n.nkeys++
			}
		}
	} else {
		n.table = slices.Clone(m.table)
	}
	if (n.ngrams+len(pats)*n.step)*2 > len(n.grams) {
		n.grams, n.gshift = makeTable[gslot](n.ngrams + len(pats)*n.step)
		n.ngrams = 0
		for _, g := range m.grams {
			if g.offs != 0 {
				*n.findGram(g.key) = g
				n.ngrams++
			}
		}
	} else {
		n.grams = slices.Clone(m.grams)
	}
	for _, p := range pats {
		n.insert(p)
	}
	return &n
}

// makeTable allocates an open-addressing table for at least k keys at load
// <= 1/2 and returns it with the shift that maps a hash to a slot.
func makeTable[T any](k int) ([]T, uint) {
	size := 16
	for size < 2*k {
		size *= 2
	}
	return make([]T, size), uint(64 - bits.TrailingZeros(uint(size)))
}

// findSlot returns the slot for key: its entry, or the empty slot to fill.
func (m *matcher) findSlot(key uint64) *slot {
	mask := len(m.table) - 1
	for j := int((key * hashMul2) >> m.tshift); ; j = (j + 1) & mask {
		if s := &m.table[j]; s.pats == nil || s.key == key {
			return s
		}
	}
}

func (m *matcher) findGram(key uint64) *gslot {
	mask := len(m.grams) - 1
	for j := int((key * hashMul2) >> m.gshift); ; j = (j + 1) & mask {
		if g := &m.grams[j]; g.offs == 0 || g.key == key {
			return g
		}
	}
}

// insert adds one pattern of at least minLen bytes. The bucket it joins is
// replaced by a new slice so that an older matcher sharing the old slice is
// not disturbed.
func (m *matcher) insert(p string) {
	m.npat++
	m.maxLen = max(m.maxLen, len(p))
	for r := 1; r < m.w; r++ {
		h := (loadStr(p[:r]) * hashMul1) >> (64 - preBits)
		m.pre[r][h>>6] |= 1 << (h & 63)
	}
	for o := range m.step {
		key := loadStr(p[o : o+m.w])
		m.filter.add(key)
		g := m.findGram(key)
		if g.offs == 0 {
			g.key = key
			m.ngrams++
		}
		g.offs |= 1 << o
	}
	s := m.findSlot(loadStr(p[:m.w]))
	if s.pats == nil {
		*s = slot{loadStr(p[:m.w]), []string{p}}
		m.nkeys++
		return
	}
	// Keep the bucket sorted longest first.
	k := 0
	for k < len(s.pats) && len(s.pats[k]) >= len(p) {
		k++
	}
	b := make([]string, 0, len(s.pats)+1)
	b = append(b, s.pats[:k]...)
	b = append(b, p)
	b = append(b, s.pats[k:]...)
	s.pats = b
}

// undecided is the end value next reports for a position that may start a
// pattern which text ends too early to confirm or rule out.
const undecided = -1

// next returns the first position p >= i where a pattern starts in text, and
// the end of the longest pattern starting there. When final is false and a
// pattern might start at p but text ends before that can be decided, it
// returns (p, undecided). It returns (len(text), 0) when there is neither.
// With final true (end of stream) every position is decided.
func (m *matcher) next(text []byte, i int, final bool) (int, int) {
	n := len(text)
	if m.npat == 0 {
		return n, 0
	}
	step, filter, wmask := m.step, m.filter, m.wmask
	// Samples j cover candidates j-step+1 .. j; the first covers i.
	j := i + step - 1
	for ; j+8 <= n; j += step {
		if key := load8(text, j) & wmask; filter.has(key) {
			if p, e := m.candidates(text, j, key, final); e != 0 {
				return p, e
			}
		}
	}
	for ; j+m.w <= n; j += step { // fewer than 8 bytes left
		if key := loadN(text[j : j+m.w]); filter.has(key) {
			if p, e := m.candidates(text, j, key, final); e != 0 {
				return p, e
			}
		}
	}
	// No sample covers the last positions. A complete match cannot start
	// there (its sample would have fit), but one may be undecided.
	if !final {
		for p := max(i, j-step+1); p < n; p++ {
			if e := m.at(text, p, final); e != 0 {
				return p, e
			}
		}
	}
	return n, 0
}

// candidates checks the start positions implied by the gram key sampled at
// j, in increasing order.
func (m *matcher) candidates(text []byte, j int, key uint64, final bool) (int, int) {
	offs := m.findGram(key).offs
	for offs != 0 {
		o := bits.Len8(offs) - 1 // largest offset = smallest position
		offs &^= 1 << o
		if e := m.at(text, j-o, final); e != 0 {
			return j - o, e
		}
	}
	return 0, 0
}

// at decides position p exactly: the end of the longest pattern starting
// there, undecided, or 0.
func (m *matcher) at(text []byte, p int, final bool) int {
	rest := text[p:]
	if len(rest) < m.w {
		if final {
			return 0
		}
		h := (loadN(rest) * hashMul1) >> (64 - preBits)
		if m.pre[len(rest)][h>>6]&(1<<(h&63)) != 0 {
			return undecided
		}
		return 0
	}
	key := loadN(rest[:m.w])
	if !m.filter.has(key) {
		return 0
	}
	for _, pat := range m.findSlot(key).pats {
		if len(pat) <= len(rest) {
			if string(rest[:len(pat)]) == pat {
				return p + len(pat)
			}
		} else if !final && string(rest) == pat[:len(rest)] {
			// Longest first: a longer candidate that is still open
			// outranks any shorter match later in the bucket.
			return undecided
		}
	}
	return 0
}
