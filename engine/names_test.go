package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bprun/bp/engine"
)

func TestPrintableAndShort(t *testing.T) {
	for in, want := range map[string]string{
		"plain id":          "plain id",
		"café 東京":           "café 東京",
		"\x1b[2J\x1b[H":     `\x1b[2J\x1b[H`,
		"a\nforged: line":   `a\nforged: line`,
		"rtl\u202eevil":     `rtl\u202eevil`,
		"zw\u200dj\ufeffx":  `zw\u200dj\ufeffx`,
		"bad\xffutf8":       `bad\xffutf8`,
		"sep\u2028x\u0085y": `sep\u2028x\u0085y`,
	} {
		if got := engine.Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 1<<20)
	if got := engine.Short(long); got != strings.Repeat("é", engine.MaxEchoRunes)+"…" {
		t.Errorf("Short of 1M runes = %q", got)
	}
	if got := engine.Quote(`a"` + "\x1b"); got != `"a\"\x1b"` {
		t.Errorf("Quote = %s", got)
	}
	p := &engine.Problem{Pos: engine.Pos{File: "f", Line: 1, Column: 2}, Block: strings.Repeat("b", 1<<20), Field: "\x1b]0;title\x07", Message: "m\x1b[31m"}
	if got := p.Error(); got != `f:1:2: `+strings.Repeat("b", 64)+`…: \x1b]0;title\a: m\x1b[31m` {
		t.Errorf("Problem.Error() = %q", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"start", "fetch-user", "café", "東京", "a b"} {
		if err := engine.CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"\x1b[2J": "U+001B", "a\nb": "U+000A", "a\u202eb": "U+202E", "a\u200db": "U+200D",
		"\ufeffa": "U+FEFF", "a\xff": "not valid UTF-8", "\u2029": "U+2029",
	} {
		if err := engine.CheckName(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q) = %v, want %s", in, err, want)
		}
	}
}

// Names are compared normalised, and look-alikes of other scripts are
// problems; ASCII names stay as typed.
func TestBlockIDsReadableAndDistinct(t *testing.T) {
	env := newEnv(t)
	nfc, nfd := "caf\u00e9", "cafe\u0301"
	cases := []struct {
		name   string
		blocks []*engine.BlockSpec
		want   string // "" for valid
	}{
		{"NFC and NFD are one id", []*engine.BlockSpec{blk(nfc, "noop", nil), blk(nfd, "noop", nil)}, `duplicate block id: the same as "café"`},
		{"an edge in NFD finds the block in NFC", []*engine.BlockSpec{blk("a", "noop", nil, "success>"+nfd), blk(nfc, "noop", nil)}, ""},
		{"Cyrillic а looks like Latin a", []*engine.BlockSpec{blk("a", "noop", nil), blk("\u0430", "noop", nil)}, `the block id looks like "a"`},
		{"Latin after Cyrillic", []*engine.BlockSpec{blk("p\u0430y", "noop", nil), blk("pay", "noop", nil)}, `looks like "pаy"`},
		{"ASCII look-alikes stay distinct", []*engine.BlockSpec{blk("l1", "noop", nil), blk("ll", "noop", nil), blk("rn", "noop", nil), blk("m", "noop", nil)}, ""},
		{"control characters", []*engine.BlockSpec{blk("\x1b[2J", "noop", nil)}, `\x1b[2J: the block id is not readable text: it holds U+001B`},
		{"bidi override", []*engine.BlockSpec{blk("ok\u202e", "noop", nil)}, `U+202E`},
		{"invalid UTF-8", []*engine.BlockSpec{blk("\xff", "noop", nil)}, `not valid UTF-8`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := engine.Compile(bp("k", c.blocks...), env.reg)
			var ve *engine.ValidationError
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid: %v", err)
			case c.want == "":
			case !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want):
				t.Fatalf("want a problem with %q, got %v", c.want, err)
			}
		})
	}
	if _, err := engine.Compile(bp("k\u202e", blk("a", "noop", nil)), env.reg); err == nil || !strings.Contains(err.Error(), `key: the blueprint key "k\u202e" is not readable text`) {
		t.Errorf("blueprint key: %v", err)
	}
}
