package scrub

import (
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
)

// matcher finds every pattern in a byte slice in one left-to-right pass.
//
// Design (a sampled q-gram filter with exact verification):
//
//   - Every pattern is at least minLen bytes long. Let w <= min(8, minLen)
//     and step = min(minLen-w+1, 8). Any occurrence of a pattern at p covers
//     the positions p .. p+minLen-1, so among every step consecutive
//     positions j the scan samples, one lies in p .. p+step-1, and the w
//     bytes at j equal the pattern's w bytes at offset j-p < step.
//   - So the scan loads w bytes (one 8-byte load) only every step bytes and
//     tests them against a Bloom filter of all such pattern grams that stays
//     in cache. Only on a hit does it test the step candidate starts the
//     gram may belong to: each start's first w bytes against the same
//     filter, then in a table of full patterns with that prefix, longest
//     first, compared exactly.
//   - With realistic secrets (forms of 12+ bytes) step is 5, so the common
//     case costs a load, a multiply and a bit test per 5 bytes (see shape).
//   - Patterns under 8 bytes (a short secret's forms; at most 16 of them)
//     are kept out of the sampled tier, which they would force down to
//     step 1, and are found with bytes.Index; a scanner merges both
//     sources in position order. More short patterns than that go into the
//     sampled tier after all (slower, still correct).
//
// Longest first yields the longest match at a position, which is all union
// masking needs from that position. Candidates are produced in increasing
// position order, so next() returns the first one.
//
// Measured against the alternatives in DESIGN-NOTES: strings.Replacer and
// the Aho-Corasick modules both follow a pointer per input byte; this loop
// touches a 128 KiB filter every few bytes. See BENCHMARKS.md.
//
// A matcher is immutable once published; Scrubber.Add builds a new one by
// copying what changes (copy-on-write), so readers never lock.
type matcher struct {
	minLen int    // shortest pattern
	w      int    // gram and key length: min(8, minLen); 0 when empty
	step   int    // sampling distance: min(minLen-w+1, 8)
	wmask  uint64 // low w*8 bits
	maxLen int    // longest pattern, short ones included
	npat   int    // number of patterns in the sampled tier

	filter *bloom // every gram at offsets 0..step-1 (offset 0 = a start key); shared

	// table maps a start key (first w bytes) to its bucket. It is shared
	// by successive matchers: Add only fills empty slots or replaces a
	// bucket, atomically, so an older matcher may see a newer pattern
	// (harmless: a pattern being added may apply a little early; it is
	// never torn). It is replaced when it grows. Sharing makes Add cost
	// O(new patterns) instead of a copy of every table.
	table *table

	// short holds the patterns under shortLen bytes, at most maxShort of
	// them (see shortTier). With more short patterns than that, all
	// patterns live in the sampled tier (allInTier): slower, still correct.
	short     *shortTier
	allInTier bool

	// growBack is the most characters any pattern's growth widens a
	// match back by (base64.go): a Writer holds back that many trailing
	// base64 characters, which a match in the next write may claim.
	// wraps is set once there are base64 patterns: wrap.go then looks for
	// them across the line breaks of wrapped base64.
	growBack int
	wraps    bool

	// pre[r] is a bitmap of the hashes of the first r bytes of every pattern,
	// for r < w. It answers "could the last r bytes of a write start a
	// pattern?" conservatively (a false positive only holds bytes back a
	// little longer), which lets a Writer emit a whole line without waiting
	// for more input in the usual case.
	pre [8][]uint64
}

// table is an open-addressing hash table with load <= 1/2 and one writer.
type table struct {
	slots []atomic.Pointer[bucket] // nil: empty
	shift uint
	n     int // occupied slots; written by the one writer only
}

// bucket holds the patterns whose first w bytes are key, longest first. It
// is immutable.
type bucket struct {
	key   uint64
	pats  []entry
	grows bool // some pattern has a growth: every match at a position counts
}

// entry is one pattern in a bucket or in the short tier.
type entry struct {
	pat  string
	grow grow
}

func newTable(keys int) *table {
	size := 16
	for size < 2*keys {
		size *= 2
	}
	return &table{slots: make([]atomic.Pointer[bucket], size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
}

// slot returns the slot holding key, or the empty slot where it belongs.
func (t *table) slot(key uint64) *atomic.Pointer[bucket] {
	mask := len(t.slots) - 1
	for j := int((key * hashMul2) >> t.shift); ; j = (j + 1) & mask {
		if b := t.slots[j].Load(); b == nil || b.key == key {
			return &t.slots[j]
		}
	}
}

func (t *table) lookup(key uint64) *bucket {
	return t.slot(key).Load()
}

const (
	hashMul1 = 0x9E3779B97F4A7C15 // golden-ratio multiplier (Fibonacci hashing)
	hashMul2 = 0xC2B2AE3D27D4EB4F // a different odd multiplier for the tables
	preBits  = 12                 // 4096-bit prefix bitmaps
	maxStep  = 8                  // sampling step cap
	shortLen = 8                  // patterns shorter than this are short
	maxShort = 16                 // at most this many in the short tier
)

// bloom is a blocked Bloom filter: each key sets two bits in one 64-bit
// word, chosen by the top bits of one multiplicative hash. Its fixed size
// (128 KiB, 2^20 bits) keeps it in L2 cache and makes every shift a constant
// and every index provably in range, so the hot loop has no bounds checks
// on it. False-positive rate ~0.2% at 22,000 grams (1,000 secrets with
// forms, step 5); a 32 KiB filter measured slower at that size (~2.5%
// false positives, each costing step exact checks).
//
// Like the table it is shared by successive matchers and only ever gains
// bits, atomically (an atomic load is a plain load on amd64 and arm64), so
// Add need not copy it.
type bloom [1 << 14]atomic.Uint64

func bloomHash(key uint64) (word uint64, bits uint64) {
	h := key * hashMul1
	return h >> 50, 1<<((h>>44)&63) | 1<<((h>>38)&63)
}

func (f *bloom) add(key uint64) {
	w, b := bloomHash(key)
	f[w].Or(b)
}

func (f *bloom) has(key uint64) bool {
	// Two bit tests (BTQ) rather than a combined mask: no variable shift,
	// fewer live registers in the hot loop, and the second test is rarely
	// reached.
	h := key * hashMul1
	x := f[h>>50].Load()
	return x&(1<<((h>>44)&63)) != 0 && x&(1<<((h>>38)&63)) != 0
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

// shape picks the gram length w and the sampling step for patterns of at
// least minLen bytes. Longer grams filter better (fewer chance hits in
// text, smaller buckets); a longer step means fewer samples. Up to 8-byte
// grams while step stays >= 5, then shorter grams (down to 4 bytes) to keep
// the step up: an 8-byte secret gives w=4, step=5 rather than w=8, step=1.
func shape(minLen int) (w, step int) {
	switch {
	case minLen >= 12:
		w = 8
	case minLen >= 8:
		w = minLen - 4
	default:
		w = min(4, minLen)
	}
	return w, min(minLen-w+1, maxStep)
}

// buildMatcher builds a matcher from scratch. pats must be non-empty; a
// text may occur more than once (its growths are joined).
func buildMatcher(pats []pattern) *matcher {
	if len(pats) == 0 {
		return emptyMatcher
	}
	var sb []entry
	for _, p := range pats {
		if len(p.text) < shortLen {
			sb = append(sb, entry{p.text, p.grow})
		}
	}
	short := newShortTier(sb)
	if short != nil && len(short.pats) > maxShort {
		// Too many short patterns: all into the tier.
		m := buildTier(pats, 0)
		m.allInTier = true
		return m
	}
	m := buildTier(pats, shortLen)
	if short != nil {
		for _, e := range short.pats {
			m.noteShape(pattern{e.pat, e.grow})
		}
	}
	m.short = short
	return m
}

// noteShape updates what m knows of all its patterns for p.
func (m *matcher) noteShape(p pattern) {
	m.maxLen = max(m.maxLen, len(p.text))
	m.growBack = max(m.growBack, p.grow.maxBack())
	m.wraps = m.wraps || p.grow.on != 0
}

// buildTier builds the sampled tier for the patterns of pats at least
// from bytes long.
func buildTier(pats []pattern, from int) *matcher {
	n := 0
	m := &matcher{}
	for _, p := range pats {
		if len(p.text) >= from {
			if n == 0 || len(p.text) < m.minLen {
				m.minLen = len(p.text)
			}
			n++
		}
	}
	if n == 0 {
		return &matcher{}
	}
	m.w, m.step = shape(m.minLen)
	m.wmask = maskFor(m.w)
	for r := 1; r < m.w; r++ {
		m.pre[r] = make([]uint64, 1<<preBits/64)
	}
	m.filter = new(bloom)
	m.table = newTable(n)
	// Every bucket comes from one array of buckets, and every bucket's
	// patterns from one array of entries: a few allocations for all of
	// them instead of one or more per pattern. First each key claims its
	// slot, the one that inserting one pattern at a time would give it (so
	// later lookups and inserts find it), and counts its patterns; then
	// the patterns are laid out by bucket.
	slots := m.table.slots
	buckets := make([]bucket, 0, n)
	at := make([]int32, len(slots)) // 1 + the bucket of each slot; 0: free
	count := make([]int32, n+1)     // per bucket; then where its entries end, then start
	which := make([]int32, 0, n)
	for _, p := range pats {
		if len(p.text) < from {
			continue
		}
		key := loadStr(p.text[:m.w])
		j := int((key * hashMul2) >> m.table.shift)
		for at[j] != 0 && buckets[at[j]-1].key != key {
			j = (j + 1) & (len(slots) - 1)
		}
		if at[j] == 0 {
			buckets = append(buckets, bucket{key: key})
			at[j] = int32(len(buckets))
		}
		k := at[j] - 1
		count[k]++
		which = append(which, k)
	}
	for k := range len(buckets) {
		count[k+1] += count[k]
	}
	entries := make([]entry, n)
	i := n
	for q := len(pats) - 1; q >= 0; q-- {
		if p := pats[q]; len(p.text) >= from {
			i--
			k := which[i]
			count[k]--
			entries[count[k]] = entry{p.text, p.grow}
		}
	}
	for j, k := range at {
		if k != 0 {
			slots[j].Store(&buckets[k-1])
			m.table.n++
		}
	}
	for k := range buckets {
		b := &buckets[k]
		es := longestFirst(entries[count[k]:count[k+1]])
		b.pats = es[:len(es):len(es)]
		for _, e := range es {
			m.addGrams(pattern{e.pat, e.grow})
			b.grows = b.grows || e.grow.on != 0
		}
	}
	return m
}

// longestFirst sorts es longest first, keeps one entry per text, with the
// union of the growths of its copies, and returns them. A bucket can hold
// hundreds of patterns (the hex forms of tokens that start alike, ghp_...).
func longestFirst(es []entry) []entry {
	if len(es) < 2 {
		return es
	}
	slices.SortFunc(es, func(a, b entry) int {
		if len(a.pat) != len(b.pat) {
			return len(b.pat) - len(a.pat)
		}
		return strings.Compare(a.pat, b.pat)
	})
	n := 1
	for _, e := range es[1:] {
		if e.pat == es[n-1].pat {
			es[n-1].grow = es[n-1].grow.union(e.grow)
			continue
		}
		es[n] = e
		n++
	}
	return es[:n]
}

// addGrams counts p (of at least minLen bytes) in m's shape and enters its
// grams in the filter and prefix bitmaps.
func (m *matcher) addGrams(pt pattern) {
	p := pt.text
	m.noteShape(pt)
	m.npat++
	for r := 1; r < m.w; r++ {
		h := (loadStr(p[:r]) * hashMul1) >> (64 - preBits)
		m.pre[r][h>>6] |= 1 << (h & 63)
	}
	for o := range m.step {
		m.filter.add(loadStr(p[o : o+m.w]))
	}
}

// with returns a copy of m that also matches pats (distinct and
// non-empty; new, or known with a wider growth); all is every pattern, pats
// included. Pattern strings and untouched buckets are shared with m, which
// stays valid for its readers.
func (m *matcher) with(all, pats []pattern) *matcher {
	if len(pats) == 0 {
		return m
	}
	var long, short []pattern
	for _, p := range pats {
		if len(p.text) < shortLen && !m.allInTier {
			short = append(short, p)
		} else {
			long = append(long, p)
		}
	}
	if m.shortCount()+len(short) > maxShort {
		return buildMatcher(all) // too many short patterns: all into the tier
	}
	if len(long) > 0 && m.npat == 0 {
		return buildMatcher(all)
	}
	for _, p := range long {
		if len(p.text) < m.minLen {
			// w and step derive from the shortest pattern: rebuild.
			return buildMatcher(all)
		}
	}
	n := *m
	if len(short) > 0 {
		var sb []entry
		if m.short != nil {
			sb = slices.Clone(m.short.pats)
		}
		for _, p := range short {
			sb = append(sb, entry{p.text, p.grow})
			n.noteShape(p)
		}
		n.short = newShortTier(sb)
	}
	if len(long) == 0 {
		return &n
	}
	pats = long
	for r := 1; r < n.w; r++ {
		n.pre[r] = slices.Clone(m.pre[r])
	}
	if (n.table.n+len(pats))*2 > len(n.table.slots) {
		// Grow into a new table; the old one stays with m.
		n.table = newTable(2 * (n.table.n + len(pats)))
		for i := range m.table.slots {
			if b := m.table.slots[i].Load(); b != nil {
				n.table.slot(b.key).Store(b)
				n.table.n++
			}
		}
	}
	for _, p := range pats {
		n.insert(p)
	}
	return &n
}

// unshared returns a copy of m with a table, filter and prefix bitmaps of
// its own, which the copy may then insert into without disturbing the
// Scrubbers that share m (Scrubber.Include).
func (m *matcher) unshared() *matcher {
	if m.npat == 0 {
		return m // no table or filter: the short tier is immutable
	}
	n := *m
	n.filter = new(bloom)
	for i := range m.filter {
		n.filter[i].Store(m.filter[i].Load())
	}
	n.table = &table{slots: make([]atomic.Pointer[bucket], len(m.table.slots)), shift: m.table.shift, n: m.table.n}
	for i := range m.table.slots {
		n.table.slots[i].Store(m.table.slots[i].Load())
	}
	for r := 1; r < n.w; r++ {
		n.pre[r] = slices.Clone(m.pre[r])
	}
	return &n
}

// insert adds one pattern of at least minLen bytes, or widens the growth
// of one it has. The bucket it joins is replaced by a new one, so a reader
// holding the old one is not disturbed.
func (m *matcher) insert(pt pattern) {
	p := pt.text
	key := loadStr(p[:m.w])
	s := m.table.slot(key)
	old := s.Load()
	if old != nil {
		for k, e := range old.pats {
			if e.pat == p {
				m.noteShape(pt)
				b := &bucket{key: key, pats: slices.Clone(old.pats), grows: true}
				b.pats[k].grow = e.grow.union(pt.grow)
				s.Store(b)
				return
			}
		}
	}
	m.addGrams(pt)
	if old == nil {
		s.Store(&bucket{key: key, pats: []entry{{p, pt.grow}}, grows: pt.grow.on != 0})
		m.table.n++
		return
	}
	// Keep the bucket sorted longest first.
	k := 0
	for k < len(old.pats) && len(old.pats[k].pat) >= len(p) {
		k++
	}
	b := make([]entry, 0, len(old.pats)+1)
	b = append(b, old.pats[:k]...)
	b = append(b, entry{p, pt.grow})
	b = append(b, old.pats[k:]...)
	s.Store(&bucket{key: key, pats: b, grows: old.grows || pt.grow.on != 0})
}

// undecided is the end value next reports for a position that may start a
// pattern which text ends too early to confirm or rule out, or a match
// whose growth text ends too early to decide.
const undecided = -1

// next returns the first position p >= i where a pattern starts in text,
// and the span [start, end) that the patterns matching there cover, grown
// (start <= p). When final is false and a pattern might start at p but text
// ends before that can be decided, it returns end undecided. It returns
// p = len(text) when there is neither. With final true (end of stream)
// every position is decided.
func (m *matcher) next(text []byte, i int, final bool) (p, start, end int) {
	sc := m.scanner(text, final)
	return sc.next(i)
}

// scanner merges the sampled tier and the short tier into one stream of
// events in position order. It caches the next event of each, so a scan
// that calls next with increasing i stays linear.
type scanner struct {
	m          *matcher
	text       []byte
	final      bool
	tp, ts, te int // next sampled-tier event at or after the last i (tp -1: none yet)
	sp, ss, se int // next short-tier event, likewise
}

func (m *matcher) scanner(text []byte, final bool) scanner {
	return scanner{m: m, text: text, final: final, tp: -1, sp: -1}
}

// shortCount is the number of patterns in the short tier.
func (m *matcher) shortCount() int {
	if m.short == nil {
		return 0
	}
	return len(m.short.pats)
}

// next is matcher.next for increasing i.
func (sc *scanner) next(i int) (int, int, int) {
	n := len(sc.text)
	if sc.tp < i {
		sc.tp, sc.ts, sc.te = sc.m.nextTier(sc.text, i, sc.final)
	}
	if sc.sp < i {
		sc.sp, sc.ss, sc.se = sc.m.short.next(sc.text, i, sc.final)
	}
	switch {
	case sc.tp < sc.sp:
		return sc.tp, sc.ts, sc.te
	case sc.sp < sc.tp:
		return sc.sp, sc.ss, sc.se
	case sc.tp >= n:
		return n, n, 0
	case sc.te == undecided || sc.se == undecided:
		return sc.tp, sc.tp, undecided // either could still grow
	default:
		return sc.tp, min(sc.ts, sc.ss), max(sc.te, sc.se)
	}
}

// nextTier is next for the sampled tier alone.
func (m *matcher) nextTier(text []byte, i int, final bool) (int, int, int) {
	n := len(text)
	if m.npat == 0 {
		return n, n, 0
	}
	step, filter, wmask := m.step, m.filter, m.wmask
	// Samples j cover candidates j-step+1 .. j; the first covers i.
	j := i + step - 1
	for ; j+8 <= n; j += step {
		if key := load8(text, j) & wmask; filter.has(key) {
			if p, s, e := m.candidates(text, j, final); e != 0 {
				return p, s, e
			}
		}
	}
	for ; j+m.w <= n; j += step { // fewer than 8 bytes left
		if key := loadN(text[j : j+m.w]); filter.has(key) {
			if p, s, e := m.candidates(text, j, final); e != 0 {
				return p, s, e
			}
		}
	}
	// No sample covers the last positions. A complete match cannot start
	// there (its sample would have fit), but one may be undecided.
	if !final {
		for p := max(i, j-step+1); p < n; p++ {
			if s, e := m.at(text, p, final); e != 0 {
				return p, s, e
			}
		}
	}
	return n, n, 0
}

// candidates checks the start positions j-step+1 .. j that the gram
// sampled at j may belong to, in increasing order.
func (m *matcher) candidates(text []byte, j int, final bool) (int, int, int) {
	for p := j - m.step + 1; p <= j; p++ {
		if s, e := m.at(text, p, final); e != 0 {
			return p, s, e
		}
	}
	return 0, 0, 0
}

// at decides position p exactly: the span covered by the patterns that
// start there, grown, with end undecided or 0 (none).
func (m *matcher) at(text []byte, p int, final bool) (int, int) {
	rest := text[p:]
	if len(rest) < m.w {
		if final {
			return p, 0
		}
		h := (loadN(rest) * hashMul1) >> (64 - preBits)
		if m.pre[len(rest)][h>>6]&(1<<(h&63)) != 0 {
			return p, undecided
		}
		return p, 0
	}
	var key uint64
	if len(rest) >= 8 {
		key = load8(rest, 0) & m.wmask
	} else {
		key = loadN(rest[:m.w])
	}
	if !m.filter.has(key) {
		return p, 0
	}
	b := m.table.lookup(key)
	if b == nil {
		return p, 0
	}
	return matchAt(b.pats, b.grows, text, p, final)
}

// matchAt is at for the patterns pats (longest first) that may start at p.
// Without growth the longest match is the span; with it, every match
// counts, as a shorter pattern may grow further.
func matchAt(pats []entry, grows bool, text []byte, p int, final bool) (int, int) {
	rest := text[p:]
	start, end := p, 0
	for _, en := range pats {
		pat := en.pat
		if len(pat) > len(rest) {
			// Longest first: a longer candidate that is still open
			// outranks any shorter match later in the list.
			if !final && string(rest) == pat[:len(rest)] {
				return p, undecided
			}
			continue
		}
		if string(rest[:len(pat)]) != pat {
			continue
		}
		s, e := p, p+len(pat)
		if en.grow.on != 0 {
			var ok bool
			if s, e, ok = en.grow.widen(text, p, e, final); !ok {
				return p, undecided
			}
		}
		start, end = min(start, s), max(end, e)
		if !grows {
			break
		}
	}
	return start, end
}
