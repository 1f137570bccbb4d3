package scrub

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// allModes checks that input scrubs to want one-shot, in one write, byte by
// byte and in chunks of every size up to 7.
func allModes(t *testing.T, s *Scrubber, input, want string) {
	t.Helper()
	if got := s.String(input); got != want {
		t.Errorf("String(%q) = %q, want %q", input, got, want)
	}
	if got := string(s.Bytes([]byte(input))); got != want {
		t.Errorf("Bytes(%q) = %q, want %q", input, got, want)
	}
	for size := 1; size <= 8; size++ {
		var out bytes.Buffer
		w := s.NewWriter(&out)
		b := []byte(input)
		if size == 8 {
			size = len(b) + 1 // one write
		}
		for len(b) > 0 {
			n := min(size, len(b))
			if _, err := w.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("Writer chunk %d: %q → %q, want %q", size, input, out.String(), want)
		}
	}
}

func TestOwnCases(t *testing.T) {
	const secret = "hunter2-Secret!"
	basic := func(userpass string) string { return base64.StdEncoding.EncodeToString([]byte(userpass)) }
	cases := []struct {
		name    string
		secrets []string
		input   string
		want    string
	}{
		{"overlap", []string{"abcd", "cdef"}, "xabcdefx", "x***x"},
		{"touching", []string{"abcd", "efgh"}, "xabcdefghx", "x***x"},
		{"prefix-of-other", []string{"abcd", "abcdefgh"}, "abcdefg abcdefgh abcd", "***efg *** ***"},
		// Whole groups: the secret's 15 bytes fill 5 groups, the
		// neighbours' groups stay readable.
		{"base64-newline", []string{secret}, basic(secret + "\n"), "***Cg=="},
		{"base64-basic-auth", []string{secret}, "Authorization: Basic " + basic("alice:"+secret) + "\r\n", "Authorization: Basic YWxpY2U6***\r\n"},
		{"base64-basic-auth-shared", []string{secret}, "Authorization: Basic " + basic("bob:"+secret) + "\r\n", "Authorization: Basic Ym9i***\r\n"},
		{"base64-url", []string{"\xfb\xff\xbf-secret-\xfe"}, "tok=" + base64.RawURLEncoding.EncodeToString([]byte("ab\xfb\xff\xbf-secret-\xfe")) + "&x=1", "tok=***&x=1"},
		{"base64-percent", []string{"\xfb\xff\xbf-secret-\xfe"}, "tok=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("abc\xfb\xff\xbf-secret-\xfeab"))) + "&x=1", "tok=YWJj***YWI%3D&x=1"},
		{"hex", []string{secret}, "lower " + hex.EncodeToString([]byte(secret)) + " upper " + strings.ToUpper(hex.EncodeToString([]byte(secret))), "lower *** upper ***"},
		{"url-userinfo", []string{secret}, "GET https://alice:" + url.QueryEscape(secret) + "@example.com/x", "GET https://alice:***@example.com/x"},
		{"url-userinfo-raw", []string{"s3cr3t-pass"}, "https://bob:s3cr3t-pass@host:8443/", "https://bob:***@host:8443/"},
		{"crlf-lines", []string{"line-one\r\nline-two\r\n"}, "a line-one\nb line-two\nc", "a ***\nb ***\nc"},
		{"crlf-whole", []string{"line-one\r\nline-two\r\n"}, "[line-one\r\nline-two\r\n]", "[***]"},
		{"utf8-secret", []string{"pässwörd-ü"}, "naïve → pässwörd-ü ← 日本", "naïve → *** ← 日本"},
		{"utf8-json-ascii", []string{"pässwörd-ü"}, `{"p":"p\u00e4ssw\u00f6rd-\u00fc"}`, `{"p":"***"}`},
		{"utf8-json-upper", []string{"pässwörd-ü"}, `{"p":"p\u00E4ssw\u00F6rd-\u00FC"}`, `{"p":"***"}`},
		{"utf8-emoji-json", []string{"key🔑value"}, `"key\ud83d\udd11value"`, `"***"`},
		{"go-json-html", []string{"a<b>&c"}, `{"x":"a\u003cb\u003e\u0026c"}`, `{"x":"***"}`},
		{"go-quote-ascii", []string{"tab\there-é"}, `"tab\there-\u00e9"`, `"***"`},
		{"xml-text", []string{`a"b'c&d`}, "<v>a&#34;b&#39;c&amp;d</v> <v>a&quot;b&apos;c&amp;d</v>", "<v>***</v> <v>***</v>"},
		{"js-uri-component", []string{"Pass word 123!"}, "q=Pass%20word%20123!", "q=***"},
		{"trimmed", []string{"  token-value\n"}, "token-value", "***"},
		{"short-ignored", []string{"abc"}, "abc abc", "abc abc"},
		{"no-secrets", nil, "plain text", "plain text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			for _, p := range c.secrets {
				s.Add(p)
			}
			allModes(t, s, c.input, c.want)
		})
	}
}

// TestBasicAuthEveryPrefixLength checks the whole-group rule exactly: every
// group with a byte of the secret is masked, every other group is not.
func TestBasicAuthEveryPrefixLength(t *testing.T) {
	const secret = "Password123!"
	s := New()
	s.Add(secret)
	for n := range 10 {
		for _, suffix := range []string{"", "\n", "xyz", "wxyz"} {
			prefix := strings.Repeat("u", n) + ":"
			enc := base64.StdEncoding.EncodeToString([]byte(prefix + secret + suffix))
			first := len(prefix) / 3                     // the group of the secret's first byte
			after := (len(prefix) + len(secret) + 2) / 3 // the first group after its last byte
			want := enc[:4*first] + Mask + enc[min(len(enc), 4*after):]
			allModes(t, s, enc, want)
		}
	}
}

func TestAddReportsShortSecrets(t *testing.T) {
	s := New()
	if s.Add("abc") {
		t.Error("Add(abc) = true")
	}
	if s.Add("") {
		t.Error(`Add("") = true`)
	}
	if s.Len() != 0 {
		t.Errorf("Len = %d after short secrets", s.Len())
	}
	if !s.Add("abcd") {
		t.Error("Add(abcd) = false")
	}
	for _, f := range formTexts("ab\ncd-long", MinSecretLen) {
		if len(f) < MinSecretLen {
			t.Errorf("form %q shorter than %d", f, MinSecretLen)
		}
	}
	s.AddLiteral("")
	s.AddLiteral("x")
	if got := s.String("xyz"); got != "***yz" {
		t.Errorf("AddLiteral(x): %q", got)
	}
}

func TestNoMatchReturnsInput(t *testing.T) {
	s := New()
	s.Add("some-secret-value")
	in := []byte("a log line without anything to hide")
	if out := s.Bytes(in); &out[0] != &in[0] {
		t.Error("Bytes copied an unmatched input")
	}
	str := "another harmless line"
	allocs := testing.AllocsPerRun(100, func() { _ = s.String(str) })
	if allocs != 0 {
		t.Errorf("String allocates %v times without a match", allocs)
	}
}

func TestWriterHoldsBackLittle(t *testing.T) {
	s := New()
	s.AddLiteral("0123456789")
	var out bytes.Buffer
	w := s.NewWriter(&out)
	w.Write([]byte("a line\n"))
	if out.String() != "a line\n" || w.Buffered() != 0 {
		t.Errorf("line not emitted at once: %q, %d held", out.String(), w.Buffered())
	}
	w.Write([]byte("ends with 01234"))
	if w.Buffered() != 5 {
		t.Errorf("held %d bytes, want the 5 that may start a secret", w.Buffered())
	}
	w.Write([]byte("56789 and more"))
	w.Close()
	if want := "a line\nends with *** and more"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

func TestWriterMaskRunAcrossWrites(t *testing.T) {
	s := New()
	s.AddLiteral("abcd")
	s.AddLiteral("cdefgh")
	var out bytes.Buffer
	w := s.NewWriter(&out)
	for _, p := range []string{"xab", "cd", "ef", "gh", "abcd", "y"} {
		w.Write([]byte(p))
	}
	w.Close()
	if out.String() != "x***y" {
		t.Errorf("got %q", out.String())
	}
}

func TestAddWhileStreaming(t *testing.T) {
	s := New()
	s.Add("first-secret")
	var out bytes.Buffer
	w := s.NewWriter(&out)
	w.Write([]byte("token=late-token-123 first-secret\n"))
	s.Add("late-token-123")
	w.Write([]byte("again late-token-123 and first-secret\n"))
	w.Close()
	want := "token=late-token-123 ***\nagain *** and ***\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, os.ErrClosed
	}
	f.n--
	return len(p), nil
}

func TestWriterError(t *testing.T) {
	s := New()
	w := s.NewWriter(&failWriter{n: 1})
	if _, err := w.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("fails")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("got %v", err)
	}
	if _, err := w.Write([]byte("sticky")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("not sticky: %v", err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Close: %v", err)
	}
}

func TestConcurrentWritersAndAdds(t *testing.T) {
	s := New()
	s.Add("initial-secret")
	const writers = 8
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, writers)
	for g := range writers {
		wg.Go(func() {
			w := s.NewWriter(&outs[g])
			for i := range 200 {
				fmt.Fprintf(w, "line %d initial-secret token-%03d-xyz\n", i, i%50)
			}
			w.Close()
		})
	}
	wg.Go(func() {
		for i := range 50 {
			s.Add(fmt.Sprintf("token-%03d-xyz", i))
		}
	})
	wg.Wait()
	for g := range writers {
		if strings.Contains(outs[g].String(), "initial-secret") {
			t.Errorf("writer %d leaked the initial secret", g)
		}
	}
	// After all adds every token is masked.
	if got := s.String("token-049-xyz"); got != Mask {
		t.Errorf("got %q", got)
	}
}

func TestValue(t *testing.T) {
	s := New()
	s.Add("tok-12345")
	s.Add("987654")
	in := map[string]any{
		"plain":     "hello",
		"tok-12345": []any{"x tok-12345 y", 1.5, true, nil, map[string]any{"k": "tok-12345"}},
		"pin":       float64(987654),
		"num":       json.Number("9876543"),
		"strs":      []string{"tok-12345"},
		"typed":     struct{ A string }{"a tok-12345"},
	}
	orig, _ := json.Marshal(in)
	got := s.Value(in)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "tok-12345") || strings.Contains(string(b), "987654") {
		t.Errorf("leak: %s", b)
	}
	want := `{"***":["x *** y",1.5,true,null,{"k":"***"}],"num":"***3","pin":"***","plain":"hello","strs":["***"],"typed":{"A":"a ***"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if after, _ := json.Marshal(in); string(after) != string(orig) {
		t.Errorf("input modified: %s", after)
	}
	if v := s.Value(map[string]any{"m": map[string]any(nil), "s": []any(nil)}); fmt.Sprint(v) != "map[m:map[] s:[]]" || v.(map[string]any)["m"].(map[string]any) != nil {
		t.Errorf("nil containers: %#v", v)
	}
	if v := s.Value(42); v != 42 {
		t.Errorf("Value(42) = %v", v)
	}
}

type codeErr struct{ code int }

func (e *codeErr) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestError(t *testing.T) {
	s := New()
	s.Add("tok-12345")
	if s.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	plain := errors.New("nothing secret")
	if s.Error(plain) != plain {
		t.Error("unchanged error was wrapped")
	}
	base := fmt.Errorf("open tok-12345: %w", fs.ErrNotExist)
	err := s.Error(fmt.Errorf("login with tok-12345 failed: %w: %w", base, &codeErr{401}))
	if err.Error() != "login with *** failed: open ***: file does not exist: code 401" {
		t.Errorf("message %q", err.Error())
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is lost the chain")
	}
	var ce *codeErr
	if !errors.As(err, &ce) || ce.code != 401 {
		t.Error("errors.As lost the chain")
	}
	if errors.Unwrap(err) != nil {
		t.Error("Unwrap exposes the unmasked error")
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	s := New()
	for i := range 50 {
		s.Add(fmt.Sprintf("secret-token-%04d-abcdef", i))
	}
	w := s.NewWriter(io.Discard)
	lines := [][]byte{
		[]byte("2026-11-25 INFO nothing to see here, just a log line\n"),
		[]byte("2026-11-25 WARN token secret-token-0007-abcdef leaked? split secret-tok"),
		[]byte("en-0042-abcdef across writes\n"),
	}
	for _, l := range lines { // warm up the scratch buffers
		w.Write(l)
	}
	allocs := testing.AllocsPerRun(200, func() {
		for _, l := range lines {
			w.Write(l)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state Write allocates %v times per round", allocs)
	}
}

func TestPythonReprForm(t *testing.T) {
	s := New()
	secret := `it's"a"secret\value`
	s.Add(secret)
	// What Python prints for repr(secret) inside a ValueError message.
	text := `ValueError: invalid literal for int() with base 10: 'it\'s"a"secret\\value'`
	if got := s.String(text); strings.Contains(got, "secret") {
		t.Errorf("repr form not masked: %s", got)
	}
}

// marked collects a Writer's output cut at its marks.
type marked struct {
	cur  bytes.Buffer
	done []string
}

func (m *marked) Write(p []byte) (int, error) { return m.cur.Write(p) }

func (m *marked) Marked() {
	m.done = append(m.done, m.cur.String())
	m.cur.Reset()
}

func TestWriterMarks(t *testing.T) {
	s := New()
	s.Add("Password123!")
	s.AddLiteral("0123456789")
	cases := []struct {
		name     string
		messages []string
		want     []string
	}{
		{"plain", []string{"Paris: 21.5 °C", "done", "abc"}, []string{"Paris: 21.5 °C", "done", "abc"}},
		{"a secret split over two", []string{"key 01234", "56789 ok"}, []string{"key ***", " ok"}},
		{"a secret in the second", []string{"ends in base64 YWJj", "OlBhc3N3b3JkMTIzIQ== after"}, []string{"ends in base64 YWJj", "*** after"}},
		{"a group over the mark", []string{"ends in base64 YWJjOl", "Bhc3N3b3JkMTIzIQ== after"}, []string{"ends in base64 YWJj***", " after"}},
		{"a mask across the mark", []string{"0123456789", "0123456789 x"}, []string{"***", " x"}},
		{"held over several", []string{"0", "1", "2", "345", "x"}, []string{"0", "1", "2", "345", "x"}},
		{"empty", []string{"", "a", ""}, []string{"", "a", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m marked
			w := s.NewWriter(&m)
			for _, msg := range c.messages {
				w.Write([]byte(msg))
				w.Mark()
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if m.cur.Len() != 0 || !slices.Equal(m.done, c.want) {
				t.Errorf("got %q (and %q after the last mark), want %q", m.done, m.cur.String(), c.want)
			}
		})
	}
}
