package scrub

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestAddAllIsAdd: registering secrets in one AddAll masks exactly as
// adding them one by one does.
func TestAddAllIsAdd(t *testing.T) {
	secrets := append(benchSecrets(60), "pin7", "  padded-secret\n", `"quoted-secret-value"`, "x")
	one, all := New(), New()
	for _, s := range secrets {
		one.Add(s)
	}
	all.AddAll(secrets)
	if one.Len() != all.Len() {
		t.Errorf("Len: %d one by one, %d all at once", one.Len(), all.Len())
	}
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 300 {
		var b strings.Builder
		for range 5 {
			b.WriteString(benchLogLine(r))
			f := forms(secrets[r.IntN(len(secrets))], MinSecretLen)
			if len(f) > 0 {
				b.WriteString(f[r.IntN(len(f))].text)
			}
		}
		text := b.String()
		if a, b := one.String(text), all.String(text); a != b {
			t.Fatalf("text %d: one by one %q, all at once %q", i, a, b)
		}
	}
}

// benchLogLine is a short line of ordinary log text.
func benchLogLine(r *rand.Rand) string {
	return fmt.Sprintf(" 2026-11-25 INFO worker-%d took %dms user=u%d@example.com ", r.IntN(9), r.IntN(999), r.IntN(99))
}

// TestInclude: a Scrubber that includes another masks what it masks, and
// what either adds later stays its own.
func TestInclude(t *testing.T) {
	base := New()
	base.AddAll([]string{"base-secret-one", "base-secret-two"})
	s1, s2 := New(), New()
	s1.Include(base)
	s2.Include(base)
	s1.Add("run-one-secret")
	base.Add("base-added-later")
	s2.Add("run-two-secret")
	text := "base-secret-one base-secret-two run-one-secret run-two-secret base-added-later"
	for _, c := range []struct {
		name string
		s    *Scrubber
		want string
	}{
		{"base", base, "*** *** run-one-secret run-two-secret ***"},
		{"s1", s1, "*** *** *** run-two-secret base-added-later"},
		{"s2", s2, "*** *** run-one-secret *** base-added-later"},
	} {
		if got := c.s.String(text); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// Into a Scrubber that has patterns of its own: both sets.
	s3 := New()
	s3.Add("own-secret-three")
	s3.Include(base)
	if got := s3.String("own-secret-three base-secret-one base-added-later"); got != "*** *** ***" {
		t.Errorf("s3: %q", got)
	}
	// The base's secrets are known to a Scrubber that includes it: adding
	// them again allocates nothing.
	s4 := New()
	s4.Include(base)
	if n := testing.AllocsPerRun(100, func() { s4.Add("base-secret-one") }); n != 0 {
		t.Errorf("Add of an included secret allocates %v times", n)
	}
}

// TestIncludeConcurrent: many Scrubbers include one base, add their own
// secrets and scan, at once (run it with -race).
func TestIncludeConcurrent(t *testing.T) {
	base := New()
	base.AddAll(benchSecrets(200))
	secret := strings.TrimSpace(benchSecrets(200)[7])
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s := New()
			s.Include(base)
			own := fmt.Sprintf("own-secret-%02d-xyz", g)
			s.Add(own)
			for i := range 50 {
				line := fmt.Sprintf("%d %s %s", i, own, secret)
				if got := s.String(line); got != fmt.Sprintf("%d *** ***", i) {
					t.Errorf("goroutine %d: %q", g, got)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := base.String("own-secret-03-xyz"); got != "own-secret-03-xyz" {
		t.Errorf("the base learnt a run's secret: %q", got)
	}
}

// TestTextFormsSkipOnlyWhatIsUnchanged: textForms leaves out an escaper
// only when its output would be the value itself: with the value, it gives
// the same set of texts as running every escaper.
func TestTextFormsSkipOnlyWhatIsUnchanged(t *testing.T) {
	every := func(s string) []string {
		q, qa := strconv.Quote(s), strconv.QuoteToASCII(s)
		var xb bytes.Buffer
		_ = xml.EscapeText(&xb, []byte(s))
		f := []string{s,
			jsonEscape(s, false, false), jsonEscape(s, true, false), jsonEscape(s, true, true), goJSON(s, true), goJSON(s, false),
			q[1 : len(q)-1], qa[1 : len(qa)-1], url.QueryEscape(s), url.PathEscape(s), uriComponent(s),
			html.EscapeString(s), xb.String(), namedEntities.Replace(s), pythonRepr(s, true), pythonRepr(s, false),
		}
		if strings.Contains(s, "/") {
			f = append(f, strings.ReplaceAll(jsonEscape(s, false, false), "/", `\/`))
		}
		if strings.Contains(s, "'") {
			f = append(f, strings.ReplaceAll(s, "'", "''"))
		}
		slices.Sort(f)
		return slices.Compact(f)
	}
	r := rand.New(rand.NewPCG(4, 4))
	const alpha = "aZ09-_.~!*'()\"\\<>&/ \t\n\r\x01\x7f\u00e9\u2028\xff%+="
	for range 20000 {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		s := string(b)
		got := append(textForms(s), s)
		slices.Sort(got)
		got = slices.Compact(got)
		if want := every(s); !slices.Equal(got, want) {
			t.Fatalf("textForms(%q) = %q, every escaper gives %q", s, got, want)
		}
	}
}
