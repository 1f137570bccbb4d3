package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileInput is a file a hostile or careless user hands bp validate, and
// what bp must say about it.
type hostileInput struct {
	name string
	file string            // its name, which picks the loader
	gen  func(w io.Writer) // writes it, without holding it: the test's own memory stays small
	args []string          // more arguments to bp validate
	want string            // in the output
}

// mergeBomb is 1.4 KB of YAML whose merge keys, expanded naively, take
// 2^depth steps: each level merges the one below twice.
func mergeBomb(depth int) string {
	var b strings.Builder
	b.WriteString("blocks:\n  a:\n    type: setstate\n    fields:\n      element: x\n      value:\n        x0: &x0 {k: 1}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "        x%d: &x%d {<<: [*x%d, *x%d], k: [*x%d, *x%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// billionLaughs is aliases of aliases: ten times more values per level.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("blocks:\n  a:\n    type: setstate\n    fields:\n      element: x\n      value:\n        l0: &l0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "        l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	return b.String()
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("blocks:\n  a:\n    type: setstate\n    fields:\n      element: x\n      value:\n")
	for i := range n {
		fmt.Fprintf(&b, "        k%d: 1\n", i)
	}
	return b.String()
}

func text(s string) func(io.Writer) { return func(w io.Writer) { io.WriteString(w, s) } }

// repeat writes head, then s n times, then tail.
func repeat(head, s string, n int, tail string) func(io.Writer) {
	return func(w io.Writer) {
		io.WriteString(w, head)
		chunk := strings.Repeat(s, max(1, (64<<10)/len(s)))
		for left := n; left > 0; {
			k := min(left, len(chunk)/len(s))
			io.WriteString(w, chunk[:k*len(s)])
			left -= k
		}
		io.WriteString(w, tail)
	}
}

var hostileInputs = []hostileInput{
	{name: "merge-key bomb", file: "bomb.bp.yaml", gen: text(mergeBomb(29)), want: "after expanding aliases and merge keys"},
	{name: "billion laughs", file: "laughs.bp.yaml", gen: text(billionLaughs()), want: "after expanding aliases and merge keys"},
	{name: "100k nested lists in JSON", file: "deep.bp.json", gen: text(`{"blocks": {"a": {"type": "setstate", "fields": {"value": ` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}}}}"), want: "nested more than 128 levels"},
	{name: "100k nested mappings in flow YAML", file: "deepmap.bp.yaml", gen: text("blocks: " + strings.Repeat("{a: ", 100_000) + strings.Repeat("}", 100_000) + "\n"), want: "nested more than 128 levels"},
	{name: "100k nested block lists", file: "deepseq.bp.yaml", gen: text("blocks:\n  a:\n    fields:\n      v: " + strings.Repeat("- ", 100_000) + "x\n"), want: "nested more than 128 levels"},
	{name: "indentation 3000 levels deep", file: "indent.bp.yaml", gen: func(w io.Writer) {
		for i := range 3000 {
			io.WriteString(w, strings.Repeat(" ", i)+"a:\n")
		}
	}, want: "nested more than 128 levels"},
	{name: "200k keys in one mapping", file: "wide.bp.yaml", gen: text(manyKeys(200_000)), want: "more than 262144 values"},
	{name: "2.2M keys in 6.6 MB", file: "wider.bp.yaml", gen: repeat("", "a:\n", 2_200_000, ""), want: "more than 262144 values"},
	{name: "50 MB string", file: "big.bp.yaml", gen: repeat("blocks:\n  a: {type: setstate, fields: {value: \"", "x", 50<<20, "\"}}\n"), want: "the file is too large: 50.0 MiB, more than the limit of 8 MiB"},
	{name: "7 MB string under the limit", file: "string.bp.yaml", gen: repeat("blocks:\n  a: {type: setstate, fields: {value: \"", "x", 7<<20, "\"}}\n"), want: "a: element: required field is missing"},
	{name: "9 MB file with the limit raised", file: "raised.bp.yaml", gen: repeat("blocks:\n  a: {type: setstate, fields: {value: \"", "x", 9<<20, "\"}}\n"), args: []string{"--max-blueprint-size", "16MiB"}, want: "a: element: required field is missing"},
	{name: "truncated", file: "cut.bp.yaml", gen: text("blocks:\n  a: {type: setstate, fields: {value: [1, 2"), want: "syntax error"},
	{name: "garbage", file: "garbage.bp.yaml", gen: text("\x00\x01\xff\xfe{[}]:\x1b[2J"), want: "syntax error"},
	{name: "unknown alias", file: "alias.bp.yaml", gen: text("blocks: *nowhere\n"), want: "unknown alias *nowhere"},
	{name: "garbage .wf lines", file: "components-blueprints_blueprint-0-x.jsonl", gen: text(`{"id": "x", "type": "blueprints_blueprint", "content": {}}` + "\n{not json\n" + `{"id": 5}` + "\n\x1b[2J\n"), want: "not a JSON object"},
	{name: "1 MB Writer component id", file: "components-blueprints_blueprint-0-y.jsonl", gen: repeat(`{"id": "y", "type": "blueprints_blueprint", "content": {}}`+"\n"+`{"id": "`, "z", 1<<20, `", "type": "blueprints_nosuch", "parentId": "y"}`), want: "zzzz…: type blueprints_nosuch is not supported"},
	{name: "terminal escapes in a block id", file: "esc.bp.yaml", gen: text("blocks:\n  \"\\e[2J\\e[H\": {type: nosuch}\n"), want: `\x1b[2J\x1b[H: type nosuch is not supported`},
	{name: "a newline forging a line in a block id", file: "nl.bp.yaml", gen: text("blocks:\n  \"a\\nok.bp.yaml:1:1: fine\": {type: returnvalue, fields: {value: 1}}\n"),
		want: `a\nok.bp.yaml:1:1: fine: the block id is not readable text: it holds U+000A`},
	{name: "right-to-left override in a block id", file: "rtl.bp.yaml", gen: text("blocks:\n  \"txt.\u202eexe\": {type: returnvalue, fields: {value: 1}}\n"), want: `txt.\u202eexe: the block id is not readable text: it holds U+202E`},
	{name: "zero-width joiner in a block id", file: "zwj.bp.yaml", gen: text("blocks:\n  \"a\u200db\": {type: returnvalue, fields: {value: 1}}\n"), want: `U+200D`},
	{name: "byte order mark in a block id", file: "bom.bp.yaml", gen: text("blocks:\n  \"\ufeffa\": {type: returnvalue, fields: {value: 1}}\n"), want: `U+FEFF`},
	{name: "invalid UTF-8", file: "utf8.bp.yaml", gen: text("blocks:\n  \xff\xfe: {type: returnvalue}\n"), want: "syntax error"},
	{name: "invalid UTF-8 in a Writer id", file: "components-blueprints_blueprint-0-u.jsonl", gen: text(`{"id": "u", "type": "blueprints_blueprint", "content": {}}` + "\n" + "{\"id\": \"\xff\", \"type\": \"blueprints_returnvalue\", \"parentId\": \"u\", \"content\": {\"value\": \"1\"}}"),
		want: "the block id is not readable text"},
	{name: "NFC and NFD spellings of one id", file: "nfc.bp.yaml", gen: text("blocks:\n  caf\u00e9: {type: returnvalue, fields: {value: 1}}\n  cafe\u0301: {type: returnvalue, fields: {value: 2}}\n"),
		want: `duplicate block id: the same as "café" (at `},
	{name: "Cyrillic а beside Latin a", file: "cyr.bp.yaml", gen: text("blocks:\n  a: {type: returnvalue, fields: {value: 1}}\n  \u0430: {type: returnvalue, fields: {value: 2}}\n"),
		want: `the block id looks like "a" (at `},
	{name: "a list where a duration belongs", file: "t1.bp.yaml", gen: text("blocks:\n  c: {type: httprequest, fields: {url: \"http://127.0.0.1:1/\", timeout: [1]}}\n"), want: "c: timeout: [1] is not a duration"},
	{name: "an object where a duration belongs", file: "t2.bp.yaml", gen: text("blocks:\n  c: {type: httprequest, fields: {url: \"http://127.0.0.1:1/\", timeout: {a: 1}}}\n"), want: "c: timeout: map[a:1] is not a duration"},
	{name: "retry out of range", file: "t3.bp.yaml", gen: text("blocks:\n  c: {type: httprequest, fields: {url: \"http://127.0.0.1:1/\", retry: 700}}\n"), want: "c: retry: attempts: 700 is not a number from 1 to 100"},
	{name: "terminal escapes in a value", file: "escval.bp.yaml", gen: text("blocks:\n  a: {type: setstate, fields: {element: x, valueType: \"\\e[2J\"}}\n"), want: `"\x1b[2J" is neither text nor JSON`},
}

// TestValidateHostileInputs hands bp validate each hostile input above:
// each is refused with exit 2 and a message naming the problem, in less
// than a second of CPU and 200 MB, and nothing it prints can drive a
// terminal or runs on for megabytes.
func TestValidateHostileInputs(t *testing.T) {
	bin := plainBinary(t)
	for _, c := range hostileInputs {
		t.Run(c.name, func(t *testing.T) {
			env := newBPEnv(t)
			path := filepath.Join(env.home, c.file)
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriter(f)
			c.gen(w)
			if err := errors.Join(w.Flush(), f.Close()); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append(append([]string{"validate"}, c.args...), path)...)
			cmd.Env = env.vars
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err = cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("want exit 2, got %v:\n%.2000s", err, out.String())
			}
			text := out.String()
			if !strings.Contains(text, c.want) {
				t.Errorf("output lacks %q:\n%.2000s", c.want, text)
			}
			if strings.ContainsAny(text, "\x1b\x00\u202e\u200d\ufeff") {
				t.Errorf("output holds control characters: %q", text)
			}
			if len(text) > 64<<10 {
				t.Errorf("output is %d bytes", len(text))
			}
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if cpu > time.Second {
				t.Errorf("took %v of CPU", cpu)
			}
			// The figure is the child's peak, or this test process's if that is
			// higher (Linux counts the memory a child shares until it execs):
			// either way an upper bound.
			if rss, ok := peakRSS(cmd.ProcessState); ok && rss > 200<<20 {
				t.Errorf("peak RSS %d MB", rss>>20)
			}
			rss, _ := peakRSS(cmd.ProcessState)
			t.Logf("cpu %v, peak RSS %d MB", cpu, rss>>20)
		})
	}
}

var plain struct {
	once sync.Once
	path string
	err  error
}

// plainBinary is bp built without -race: limits of time and memory are
// the shipped binary's, and the race detector multiplies both.
func plainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return bpBinary
	}
	plain.once.Do(func() {
		plain.path = filepath.Join(filepath.Dir(bpBinary), "bp-plain")
		build := exec.Command("go", "build", "-o", plain.path, ".")
		build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := build.CombinedOutput(); err != nil {
			plain.err = fmt.Errorf("building bp: %v\n%s", err, out)
		}
	})
	if plain.err != nil {
		t.Fatal(plain.err)
	}
	return plain.path
}
