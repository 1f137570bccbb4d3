package blueprints

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The loaders read files users and other programs write, and bp serve loads
// whole directories: no input may crash them. Seeds are real blueprints.

func FuzzParseNative(f *testing.F) {
	for _, s := range []string{
		weather,
		okBlueprint,
		"blocks:\n  a: {type: setstate, fields: {value: &x [1, *x]}}\n",
		"x: &a {k: 1}\nblocks:\n  b:\n    <<: *a\n    type: t\n    outs: {success: [b, b]}\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\nc: [*b, *b]\n",
		`{"key": "json", "vault": ["S"], "blocks": {"a": {"type": "returnvalue", "fields": {"value": 1.5e3}}}}`,
		"vault:\nenv: [X]\nblocks:\n  a:\n  b: !!str 1\n  ? c\n  : {type: x}\n",
		"--- \nblocks: {}\n---\nblocks: []\n",
		"blocks:\n  a: {type: x\n",
		// Hostile shapes (cmd/bp's TestValidateHostileInputs has them at
		// full size): merges of merges, nesting past the limit, control
		// characters in names.
		mergeBombSeed(20),
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		"blocks:\n  a:\n    fields:\n      v: " + strings.Repeat("- ", 200) + "x\n",
		"blocks:\n  \"\\e[2J\\u202e\\u200d\": {type: nosuch}\n  \"\\xff\": {}\n",
		"blocks: {a: {type: setstate, fields: {v: 'x: [y', w: \"#{\\\"[\"}}}, b: |\n  [[[[\n  {{\n}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		bp, err := ParseNative("f.bp.yaml", []byte(src))
		if (bp == nil) == (err == nil) {
			t.Fatalf("bp %v, err %v", bp, err)
		}
		if err != nil {
			_ = err.Error()
			return
		}
		for _, p := range bp.LoadErrors {
			if p.Pos.File != "f.bp.yaml" {
				t.Fatalf("problem without the file: %v", p)
			}
		}
		for _, b := range bp.Blocks {
			if b.ID == "" || b.Fields == nil || b.FieldPos == nil {
				t.Fatalf("block %+v", b)
			}
		}
	})
}

func mergeBombSeed(depth int) string {
	var b strings.Builder
	b.WriteString("blocks:\n  a:\n    fields:\n      value:\n        x0: &x0 {k: 1}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "        x%d: &x%d {<<: [*x%d, *x%d], k: [*x%d, *x%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

func FuzzParseWriter(f *testing.F) {
	f.Add(wfRoot)
	f.Add(wfBlueprint + "\n" + wfBlock)
	f.Add(`{"id": "a", "type": "blueprints_setstate", "content": {"v": [1, {"x": 2e400}]}, "parentId": "b", "outs": [{"outId": 1}, null, {"outId": "s", "toNodeId": "a"}]}`)
	// The real Writer files, when the corpus is beside the repository.
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "writer-corpus", "*", "*.jsonl"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		bps, err := ParseWriter("f.jsonl", []byte(src))
		if err != nil {
			_ = err.Error()
		}
		for _, bp := range bps {
			if bp.Key == "" {
				t.Fatalf("blueprint without a key: %+v", bp)
			}
			for _, b := range bp.Blocks {
				if b.ID == "" || b.Type == "" || b.Pos.Line == 0 {
					t.Fatalf("block %+v", b)
				}
			}
		}
	})
}
