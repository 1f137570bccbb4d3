// Package scrub masks secret values, and the encoded forms they take, in
// everything a run outputs.
//
// A Scrubber is one set of patterns shared by any number of goroutines. Each
// output stream wraps its io.Writer with NewWriter; one-shot values go
// through String, Bytes, Value and Error. Every occurrence of every pattern
// is masked, overlapping and touching occurrences included: each maximal run
// of masked bytes becomes exactly one Mask ("***").
//
// Patterns may be added at any time, from any goroutine, including while
// writers stream: they apply to bytes not yet emitted (see Writer).
package scrub

import (
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Scrubber holds a set of patterns. The zero value is not usable; call New.
// All methods are safe for concurrent use.
type Scrubber struct {
	// m is the current matcher. It is immutable; Add swaps in a new one, so
	// scanning never takes a lock and a scan in progress keeps a consistent
	// view.
	m atomic.Pointer[matcher]

	mu sync.Mutex // serializes changes and guards the fields below
	// all is every pattern, in insertion order; a text may be there more
	// than once (the matcher keeps one, with the union of their growths).
	all   []pattern
	known map[string]struct{} // the secrets given to Add and AddAll
	// shared: all, known and m's table and filter are shared with another
	// Scrubber (Include), which may read them at any time: the next change
	// works on copies.
	shared bool
}

// New returns a Scrubber with no patterns.
func New() *Scrubber {
	s := &Scrubber{known: map[string]struct{}{}}
	s.m.Store(emptyMatcher)
	return s
}

// Add registers secret and its forms (raw, trimmed, each line, JSON, Go %q,
// URL query and path, XML/HTML, Python repr, hex, and base64 in whole groups
// at the three byte offsets, standard, URL-safe, percent-encoded and
// wrapped; see forms.go and base64.go) and reports whether secret will be
// masked. A secret shorter than MinSecretLen bytes is ignored and Add
// returns false, so that callers such as `bp vault set` can warn; derived
// forms shorter than MinSecretLen are dropped too. Adding a secret again
// costs a map lookup.
func (s *Scrubber) Add(secret string) bool {
	if len(secret) < MinSecretLen {
		return false
	}
	s.mu.Lock()
	_, ok := s.known[secret]
	s.mu.Unlock()
	if !ok {
		s.AddAll([]string{secret})
	}
	return true
}

// AddAll registers every secret of secrets, as Add does, and builds the
// matcher once for all of them: registering a vault's secrets this way
// costs a fraction of adding them one by one.
func (s *Scrubber) AddAll(secrets []string) {
	s.mu.Lock()
	var fresh []string
	for _, sec := range secrets {
		if _, ok := s.known[sec]; !ok && len(sec) >= MinSecretLen {
			fresh = append(fresh, sec)
		}
	}
	s.mu.Unlock()
	slices.Sort(fresh)
	fresh = slices.Compact(fresh)
	if len(fresh) == 0 {
		return
	}
	// The forms, outside the lock: they are most of the work.
	pats := formsOf(fresh)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unshareLocked()
	s.addPatternsLocked(pats)
	for _, sec := range fresh {
		s.known[sec] = struct{}{}
	}
}

// formsOf returns the forms of every secret of secrets and replaces each
// secret by the text of its raw form (the same bytes, in memory of their
// own). Many secrets (a vault's) are shared among the processors.
func formsOf(secrets []string) []pattern {
	const perWorker = 128
	workers := min(runtime.GOMAXPROCS(0), len(secrets)/perWorker)
	part := func(lo, hi int) []pattern {
		pats := make([]pattern, 0, 12*(hi-lo))
		for i := lo; i < hi; i++ {
			start := len(pats)
			pats = appendForms(pats, secrets[i], MinSecretLen)
			secrets[i] = pats[start].text
		}
		return pats
	}
	if workers <= 1 {
		return part(0, len(secrets))
	}
	parts := make([][]pattern, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { parts[w] = part(w*len(secrets)/workers, (w+1)*len(secrets)/workers) })
	}
	wg.Wait()
	return slices.Concat(parts...)
}

// AddLiteral registers p exactly as given: no forms and no minimum length.
// An empty p is ignored. It is meant for tests and for callers that compute
// their own patterns.
func (s *Scrubber) AddLiteral(p string) {
	if p != "" {
		s.addPatterns([]pattern{{text: strings.Clone(p)}})
	}
}

// Include registers every pattern of o in s. Into a Scrubber that has none
// yet it costs no more than a few pointers: s and o then share their
// matcher, and the first change to either works on a copy. A process that
// runs many runs over the same secrets builds one Scrubber for them and
// gives each run one that includes it.
func (s *Scrubber) Include(o *Scrubber) {
	if o == s {
		return
	}
	o.mu.Lock()
	om, all, known := o.m.Load(), o.all, o.known
	o.shared = true
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 && len(s.known) == 0 {
		s.m.Store(om)
		s.all, s.known = all[:len(all):len(all)], known
		s.shared = true
		return
	}
	s.unshareLocked()
	for k := range known {
		s.known[k] = struct{}{}
	}
	s.addPatternsLocked(all)
}

// unshareLocked gives s its own copies of what Include shares.
func (s *Scrubber) unshareLocked() {
	if !s.shared {
		return
	}
	s.shared = false
	s.known = maps.Clone(s.known)
	s.all = slices.Clip(s.all)
	s.m.Store(s.m.Load().unshared())
}

// addForms registers secret with its forms down to minLen bytes.
func (s *Scrubber) addForms(secret string, minLen int) {
	s.addPatterns(forms(secret, minLen))
}

func (s *Scrubber) addPatterns(pats []pattern) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unshareLocked()
	s.addPatternsLocked(pats)
}

// addPatternsLocked registers pats, whose texts must be memory of their
// own (forms makes them so).
func (s *Scrubber) addPatternsLocked(pats []pattern) {
	if len(pats) == 0 {
		return
	}
	rebuild := 2*len(pats) >= len(s.all)
	if len(s.all) == 0 {
		s.all = pats
	} else {
		s.all = append(s.all, pats...)
	}
	if rebuild {
		// Mostly new: one build from scratch beats copying on each insert.
		s.m.Store(buildMatcher(s.all))
		return
	}
	s.m.Store(s.m.Load().with(s.all, pats))
}

// Len returns the number of distinct patterns registered (forms included).
func (s *Scrubber) Len() int {
	m := s.m.Load()
	return m.npat + m.shortCount()
}

// Bytes returns b with every pattern masked. If nothing matches it returns
// b itself without allocating; otherwise a new slice. b is never modified.
func (s *Scrubber) Bytes(b []byte) []byte {
	var spans [8]span // on the stack unless more are found
	r, _ := s.m.Load().mask(b, -1, true, true, nil, spans[:0], nil)
	if !r.changed {
		return b
	}
	return r.out
}

// String returns str with every pattern masked. If nothing matches it
// returns str itself without allocating.
func (s *Scrubber) String(str string) string {
	// The matcher only reads, so viewing the string's bytes is safe.
	b := unsafe.Slice(unsafe.StringData(str), len(str))
	var spans [8]span // on the stack unless more are found
	r, _ := s.m.Load().mask(b, -1, true, true, nil, spans[:0], nil)
	if !r.changed {
		return str
	}
	// r.out was allocated for this call and is not referenced elsewhere.
	return unsafe.String(unsafe.SliceData(r.out), len(r.out))
}

// contains reports whether any pattern occurs in b.
func (s *Scrubber) contains(b []byte) bool {
	p, _, _ := s.m.Load().next(b, 0, true)
	return p < len(b)
}
