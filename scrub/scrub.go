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

	mu   sync.Mutex     // serializes Add and guards the fields below
	all  []pattern      // every pattern, in insertion order
	seen map[string]int // index in all of each pattern's text
}

// New returns a Scrubber with no patterns.
func New() *Scrubber {
	s := &Scrubber{seen: map[string]int{}}
	s.m.Store(emptyMatcher)
	return s
}

// Add registers secret and its forms (raw, trimmed, each line, JSON, Go %q,
// URL query and path, XML/HTML, Python repr, hex, and base64 in whole groups
// at the three byte offsets, standard, URL-safe, percent-encoded and
// wrapped; see forms.go and base64.go) and reports whether secret will be masked. A secret shorter than
// MinSecretLen bytes is ignored and Add returns false, so that callers such
// as `bp vault set` can warn; derived forms shorter than MinSecretLen are
// dropped too.
func (s *Scrubber) Add(secret string) bool {
	if len(secret) < MinSecretLen {
		return false
	}
	s.addPatterns(forms(secret, MinSecretLen))
	return true
}

// AddLiteral registers p exactly as given: no forms and no minimum length.
// An empty p is ignored. It is meant for tests and for callers that compute
// their own patterns.
func (s *Scrubber) AddLiteral(p string) {
	if p != "" {
		s.addPatterns([]pattern{{text: p}})
	}
}

// addForms registers secret with its forms down to minLen bytes.
func (s *Scrubber) addForms(secret string, minLen int) {
	s.addPatterns(forms(secret, minLen))
}

func (s *Scrubber) addPatterns(pats []pattern) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh []pattern
	for _, p := range pats {
		if p.text == "" {
			continue
		}
		if i, ok := s.seen[p.text]; ok {
			// Known text: only a wider growth is news.
			g := s.all[i].grow.union(p.grow)
			if g == s.all[i].grow {
				continue
			}
			s.all[i].grow = g
			fresh = append(fresh, s.all[i])
			continue
		}
		s.seen[p.text] = len(s.all)
		// Strings are cloned so that a caller's large backing array (a
		// whole response body the token was sliced from) is not kept alive.
		p.text = strings.Clone(p.text)
		s.all = append(s.all, p)
		fresh = append(fresh, p)
	}
	if len(fresh) > 0 {
		s.m.Store(s.m.Load().with(s.all, fresh))
	}
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
