package blueprints

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/bprun/bp/blueprints/examples"
)

// treeShape is what a parsed tree holds: its values (aliases count one, as
// written) and how many collections deep it nests.
func treeShape(n *yaml.Node, depth int) shape {
	sh := shape{values: 1}
	switch n.Kind {
	case yaml.DocumentNode:
		sh.values = 0
	case yaml.MappingNode, yaml.SequenceNode:
		depth++
		sh.depth = depth
	}
	for _, c := range n.Content {
		cs := treeShape(c, depth)
		sh.values += cs.values
		sh.depth = max(sh.depth, cs.depth)
	}
	return sh
}

// checkShape must never count less than the parser builds: it is what keeps
// the parser within MaxDepth and MaxValues.
func checkShapeBounds(t *testing.T, src string) {
	t.Helper()
	got, err := measureShape("f", []byte(src))
	if err != nil {
		return
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return
		}
		want := treeShape(&doc, 0)
		if want.values > got.values || want.depth > got.depth {
			t.Fatalf("%q: checkShape measured %+v, the parser built %+v", src, got, want)
		}
	}
}

func FuzzCheckShape(f *testing.F) {
	for _, s := range []string{
		weather, okBlueprint, "a: [1, {b: [c]}]\n", "- - - x\n- y: z\n  w: [v]\n",
		"a: |\n  [[[\n b: {c: d}\n", `{"a": [1, [2, [3]]], "b": {"c": {}}}`,
		"a: 'it''s [' \nb: \"\\\" {\"\nc: x # [[\n", "? a\n: b\n", "a: &x [1]\nb: *x\n",
	} {
		f.Add(s)
	}
	f.Fuzz(checkShapeBounds)
}

func TestCheckShapeLimits(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if _, err := checkShape("f", []byte(deep(MaxDepth-1))); err != nil {
		t.Errorf("%d levels: %v", MaxDepth-1, err)
	}
	_, err := checkShape("f", []byte(deep(MaxDepth+1)))
	var le *LimitError
	if !errors.As(err, &le) || le.Pos.String() != "f:1:129" || !strings.Contains(le.Message, "nested more than 128 levels") {
		t.Errorf("%d levels: %v", MaxDepth+1, err)
	}
	if _, err := checkShape("f", []byte(strings.Repeat("- a\n", MaxValues+1))); err == nil || !strings.Contains(err.Error(), "more than 262144 values") {
		t.Errorf("too many values: %v", err)
	}
	// Text that only looks like structure is not counted: block scalars,
	// quoted scalars, comments.
	code := "blocks:\n  a:\n    fields:\n      code: |\n" + strings.Repeat("        x = [[[[{{{{\n", 100) +
		"      s: \"" + strings.Repeat("[", 200) + "\"\n      t: '" + strings.Repeat("{", 200) + "'\n      # " + strings.Repeat("[", 200) + "\n"
	if sh, err := measureShape("f", []byte(code)); err != nil || sh.depth > 5 {
		t.Errorf("shape %+v, %v", sh, err)
	}
	names, _ := fs.Glob(examples.FS, "*.bp.yaml")
	for _, name := range names {
		data, _ := fs.ReadFile(examples.FS, name)
		checkShapeBounds(t, string(data))
	}
}

func TestLimitsBeforeWork(t *testing.T) {
	lim := Limits{MaxFileBytes: 64}
	_, err := lim.ParseNative("f.bp.yaml", []byte(strings.Repeat("#", 65)))
	if err == nil || err.Error() != "f.bp.yaml: the file is too large: 65 B, more than the limit of 64 B (raise it with --max-blueprint-size)" {
		t.Errorf("native: %v", err)
	}
	if _, err := lim.ParseWriter("f.jsonl", []byte(strings.Repeat(" ", 65))); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("writer: %v", err)
	}
	dir := writeTree(t, map[string]string{"big.bp.yaml": okBlueprint + strings.Repeat("#", 64), "ok.bp.yaml": okBlueprint})
	set, err := lim.Load(dir)
	if err != nil || len(set.Blueprints) != 1 || len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), "too large") {
		t.Errorf("Load: %v %+v", err, set)
	}
	// The merge-key bomb: merged entries count, kept or not.
	bp, err := ParseNative("f.bp.yaml", []byte(mergeBombSeed(40)))
	if err != nil || !strings.Contains(problems(bp), "more than 262144 values after expanding aliases and merge keys") {
		t.Errorf("merge bomb: %v\n%s", err, problems(bp))
	}
}
