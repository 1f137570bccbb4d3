package vault

import (
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	in := strings.Join([]string{
		"# a comment",
		"",
		"PLAIN=value",
		"  SPACED = spaced value   ",
		"export EXPORTED=yes",
		"COMMENTED=abc # trailing comment",
		"HASH=abc#def",
		`DQ="double \"quoted\"\nnext\t\\ \$HOME"`,
		`SQ='single $HOME \n # not a comment'`,
		`MULTI="line1`,
		`line2"`,
		"EMPTY=",
		"CRLF=windows\r",
		"DUP=first",
		"DUP=second",
		`URL=https://x.example/?a=b&c=d`,
	}, "\n")
	got, err := ParseEnv(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":     "value",
		"SPACED":    "spaced value",
		"EXPORTED":  "yes",
		"COMMENTED": "abc",
		"HASH":      "abc#def",
		"DQ":        "double \"quoted\"\nnext\t\\ $HOME",
		"SQ":        `single $HOME \n # not a comment`,
		"MULTI":     "line1\nline2",
		"EMPTY":     "",
		"CRLF":      "windows",
		"DUP":       "second",
		"URL":       "https://x.example/?a=b&c=d",
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d", len(got), len(want))
	}
	for k, w := range want {
		if string(got[k]) != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}

func TestParseEnvErrors(t *testing.T) {
	for in, wantLine := range map[string]string{
		"A=1\nno equals sign secretvalue\n": "line 2",
		"A=1\nB-C=secretvalue\n":            "line 2",
		"A=\"secretvalue\n\n":               "line 1",
		"A='secretvalue":                    "line 1",
		"A=\"x\" secretvalue\n":             "line 1",
	} {
		_, err := ParseEnv(strings.NewReader(in))
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if !strings.Contains(err.Error(), wantLine) {
			t.Errorf("%q: error %q, want %s", in, err, wantLine)
		}
		if strings.Contains(err.Error(), "secretvalue") {
			t.Errorf("%q: error %q shows the value", in, err)
		}
	}
}
