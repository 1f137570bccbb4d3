package vault

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseEnv: any input parses or fails with a line number, without
// panicking, and an error never quotes the input.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"A=1\n", "export B=\"x\\ny\"\n", "C='a\nb'", "# c\n\nD=e # f\r\n", "E=\"", "=x", "export"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseEnv(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		for k := range m {
			if !ValidName(k) {
				t.Fatalf("invalid name %q accepted", k)
			}
		}
	})
}

// FuzzManifest: parseManifest never panics, and what it accepts encodes
// back to the same bytes.
func FuzzManifest(f *testing.F) {
	m := manifest{"A": {version: 3, created: 1, updated: 2}, "B_2": {version: 1}}
	f.Add(m.marshal())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseManifest(b)
		if err != nil {
			return
		}
		if len(got) > 0 && !bytes.Equal(got.marshal(), b) {
			// Non-canonical encodings (unsorted, duplicate names, long
			// varints) may parse; they must still round-trip to a stable form.
			again, err := parseManifest(got.marshal())
			if err != nil || len(again) != len(got) {
				t.Fatalf("re-encoding does not parse: %v", err)
			}
		}
	})
}
