package scrub

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bprun/bp/internal/leaktest"
)

// checkCovered returns an error unless the spans String masks in text
// cover every byte that marked marks (line breaks aside: a mask may stop at
// one).
func checkCovered(s *Scrubber, text string, marked []bool) error {
	_, spans := s.m.Load().mask([]byte(text), -1, true, true, nil, nil, nil)
	covered := make([]bool, len(text))
	for _, sp := range spans {
		for i := sp.start; i < sp.end; i++ {
			covered[i] = true
		}
	}
	for i, m := range marked {
		if m && !covered[i] && text[i] != '\r' && text[i] != '\n' {
			return fmt.Errorf("byte %d of %q is in a group that carries the secret, and visible: %q", i, text, s.String(text))
		}
	}
	return nil
}

// TestWholeGroupsProperty: for random secrets (4–64 bytes, any bytes)
// between random neighbours (0–5 bytes, and for a quarter a prefix of up
// to 120, so that wrapped lines break the secret at every place), in every
// encoding that masks by
// groups, no visible character belongs to a group that carries a byte of
// the secret, one-shot or streamed in random pieces (groups split across
// writes).
func TestWholeGroupsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	iters := 400
	if testing.Short() {
		iters = 60
	}
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for it := range iters {
		secret := rnd(4 + r.IntN(61))
		prefix, suffix := rnd(r.IntN(6)), rnd(r.IntN(6))
		switch it % 4 {
		case 0: // printable neighbours, as in a Basic-auth header
			prefix, suffix = []byte("user:"[:len(prefix)]), []byte("\n\n\n\n\n"[:len(suffix)])
		case 1: // deep in a document: wrapped lines break the secret anywhere
			prefix = rnd(r.IntN(120))
		}
		s := New()
		s.Add(string(secret))
		value := append(append(append([]byte(nil), prefix...), secret...), suffix...)
		for _, enc := range leaktest.Encodings {
			text, marked := enc.Encode(value, len(prefix), len(prefix)+len(secret))
			lines := []string{text}
			if !strings.ContainsAny(text, "\n") { // wrapped base64 starts a line
				lines = append(lines, "Basic "+text+"\n")
			}
			for _, line := range lines {
				off := 0
				if line != text {
					off = len("Basic ")
				}
				m := make([]bool, len(line))
				copy(m[off:], marked)
				got := s.String(line)
				if err := checkCovered(s, line, m); err != nil {
					t.Fatalf("%s, secret %x, prefix %x, suffix %x: %v", enc.Name, secret, prefix, suffix, err)
				}
				cuts := []byte{byte(1 + r.IntN(7)), byte(r.IntN(17)), byte(1 + r.IntN(5))}
				if streamed := streamParts(t, s, splitAt(line, cuts)); streamed != got {
					t.Fatalf("%s, secret %x: streamed in %q: %q, one-shot %q", enc.Name, secret, splitAt(line, cuts), streamed, got)
				}
			}
		}
	}
}

// TestWholeGroupsReadable: the groups that carry no secret byte stay
// readable, in every encoding: only the secret's groups are masked.
func TestWholeGroupsReadable(t *testing.T) {
	secret := []byte("correct-horse-battery-staple-0123456789-and-more-to-cross-a-line-break")
	s := New()
	s.Add(string(secret))
	for _, enc := range leaktest.Encodings {
		for pre := range 7 {
			prefix := bytes.Repeat([]byte("p"), 40+pre)
			value := append(append(append([]byte(nil), prefix...), secret...), bytes.Repeat([]byte("s"), 50)...)
			text, marked := enc.Encode(value, len(prefix), len(prefix)+len(secret))
			got := s.String(text)
			if err := checkCovered(s, text, marked); err != nil {
				t.Fatalf("%s prefix %d: %v", enc.Name, pre, err)
			}
			if err := leaktest.CheckGroups(text, marked, got, Mask); err != nil {
				t.Fatalf("%s prefix %d: %v", enc.Name, pre, err)
			}
			// Every unmarked byte but line breaks is visible: count them.
			visible := 0
			for i := range text {
				if !marked[i] && text[i] != '\r' && text[i] != '\n' {
					visible++
				}
			}
			shown := 0
			for _, c := range []byte(got) {
				if c != '*' && c != '\r' && c != '\n' {
					shown++
				}
			}
			if shown != visible {
				t.Errorf("%s prefix %d: %d characters visible, want the %d outside the secret's groups:\n%s", enc.Name, pre, shown, visible, got)
			}
		}
	}
}

// FuzzWholeGroups streams a secret between neighbours, in every encoding
// that masks by groups, split at fuzzed points (inside groups, inside
// percent escapes, around line breaks), and checks that no group carrying a
// byte of the secret shows and that streaming equals one-shot.
func FuzzWholeGroups(f *testing.F) {
	f.Add([]byte("Password123!"), []byte("u:"), []byte("\n"), byte(0), []byte{3, 1, 4})
	f.Add([]byte("\xfb\xff\xbf-secret-\xfe"), []byte("abc"), []byte("ab"), byte(4), []byte{1, 2, 1})
	f.Add(bytes.Repeat([]byte("k3y"), 20), []byte("p"), []byte("ss"), byte(5), []byte{7, 16, 2})
	f.Add(bytes.Repeat([]byte{0xff, 0x00, 0x3e}, 21), []byte{}, []byte("xyz"), byte(7), []byte{5, 0, 1})
	f.Add([]byte("pin7"), []byte("xy"), []byte{}, byte(9), []byte{1})
	f.Fuzz(func(t *testing.T, secret, prefix, suffix []byte, which byte, cuts []byte) {
		if len(secret) < MinSecretLen || len(secret) > 200 || len(prefix) > 100 || len(suffix) > 100 {
			return
		}
		enc := leaktest.Encodings[int(which)%len(leaktest.Encodings)]
		s := New()
		s.Add(string(secret))
		value := append(append(append([]byte(nil), prefix...), secret...), suffix...)
		text, marked := enc.Encode(value, len(prefix), len(prefix)+len(secret))
		got := s.String(text)
		if err := checkCovered(s, text, marked); err != nil {
			t.Fatalf("%s, secret %q, prefix %q, suffix %q: %v", enc.Name, secret, prefix, suffix, err)
		}
		if streamed := streamParts(t, s, splitAt(text, cuts)); streamed != got {
			t.Fatalf("%s: streamed in %q: %q, one-shot %q", enc.Name, splitAt(text, cuts), streamed, got)
		}
	})
}
