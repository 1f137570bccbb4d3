package blueprints

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bprun/bp/engine"
)

// corpusDir finds ../shared/writer-corpus beside the repository by walking
// up from the package directory.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "writer-corpus")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/writer-corpus not found beside the repository")
		}
		dir = parent
	}
}

func TestWriterCorpusLoads(t *testing.T) {
	corpus := corpusDir(t)
	set, err := Load(corpus)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range set.Errors {
		t.Errorf("load error: %v", e)
	}
	for _, bp := range set.Blueprints {
		if bp.Format != engine.FormatWriter {
			t.Errorf("%s: format %v", bp.Key, bp.Format)
		}
		for _, p := range bp.LoadErrors {
			t.Errorf("%s: problem: %v", bp.Key, p)
		}
	}
	want := []string{"bjhk2qqylt0ijn50", "blueprint2", "button@click_1", "handle_object", "hywgzgfetx6rpiqz", "repeat_payload"}
	if got := strings.Join(set.Keys(), " "); got != strings.Join(want, " ") {
		t.Errorf("keys = %s, want %s", got, strings.Join(want, " "))
	}

	// Each folder loads alone too, and each file through LoadFile.
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(corpus, e.Name())
		s, err := Load(dir)
		if err != nil || len(s.Errors) > 0 || len(s.Blueprints) == 0 {
			t.Errorf("Load(%s) = %d blueprints, %v, %v", e.Name(), len(s.Blueprints), s.Err(), err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "components-blueprints_*.jsonl"))
		for _, f := range files {
			bps, err := LoadFile(f)
			if err != nil {
				t.Errorf("LoadFile(%s): %v", f, err)
			}
			if strings.Contains(f, "blueprint-") && len(bps) != 1 {
				t.Errorf("LoadFile(%s) gave %d blueprints", f, len(bps))
			}
		}
	}
}

func TestWriterCorpusContent(t *testing.T) {
	set, err := Load(filepath.Join(corpusDir(t), "tests_backend_testapp"))
	if err != nil {
		t.Fatal(err)
	}
	bp, err := set.Get("blueprint2")
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Blocks) != 2 {
		t.Fatalf("blueprint2 has %d blocks, want 2", len(bp.Blocks))
	}
	ret, trig := bp.Block("6ymlyaewhil88bck"), bp.Block("lsoe57jb2dfbnj76")
	if ret == nil || ret.Type != "returnvalue" || ret.Fields["value"] != "987127" {
		t.Errorf("returnvalue block = %+v", ret)
	}
	if trig == nil || trig.Type != "apitrigger" || len(trig.Outs) != 1 ||
		trig.Outs[0] != (engine.Edge{Outcome: "trigger", To: "6ymlyaewhil88bck", Pos: trig.Pos}) {
		t.Errorf("apitrigger block = %+v", trig)
	}
	if !strings.HasSuffix(ret.Pos.File, "components-blueprints_blueprint-1-8ffkuce0ermsm9dr.jsonl") || ret.Pos.Line != 2 {
		t.Errorf("returnvalue pos = %v", ret.Pos)
	}
	if bp.Vault != nil || bp.Env != nil {
		t.Errorf("a Writer blueprint sees the whole vault: Vault = %v, Env = %v", bp.Vault, bp.Env)
	}

	// The double edge: two "success" edges from setstate into one block.
	bp, err = set.Get("hywgzgfetx6rpiqz")
	if err != nil {
		t.Fatal(err)
	}
	ss := bp.Block("rbh725i69ilo6gsr")
	if ss == nil || ss.Type != "setstate" || len(ss.Outs) != 2 {
		t.Fatalf("setstate block = %+v", ss)
	}
	for _, e := range ss.Outs {
		if e.Outcome != "success" || e.To != "f052suq3dgzb5np7" {
			t.Errorf("edge %+v", e)
		}
	}
	if got := bp.Block("mw5rz7ay5p8pg2fm"); got == nil || got.Type != "writerclassification" {
		t.Errorf("AI blocks load as they are: %+v", got)
	}
}

func TestWriterAliasAndFields(t *testing.T) {
	set, err := Load(filepath.Join(corpusDir(t), "apps_hello", ".")) // the folder itself
	if err != nil {
		t.Fatal(err)
	}
	bp, err := set.Get("button@click_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Blocks) != 17 || bp.Blocks[0].ID != "ajz7x4j5a8hxs2bv" {
		t.Fatalf("%d blocks, first %s", len(bp.Blocks), bp.Blocks[0].ID)
	}
	b := bp.Blocks[0]
	if b.Alias != "Draft response clicked" || b.Fields["alias"] != nil || b.Fields["refEventType"] != "wf-click" {
		t.Errorf("alias %q, fields %v", b.Alias, b.Fields)
	}
	if b.FieldPos["refEventType"].Line != 2 {
		t.Errorf("field pos %v", b.FieldPos["refEventType"])
	}
	cls := bp.Block("45o08yveht7ik3yy")
	if cls == nil || len(cls.Outs) != 5 || cls.Outs[3].Outcome != "category_Quality" {
		t.Errorf("classification outs = %+v", cls)
	}
}

func TestParseWriterProblems(t *testing.T) {
	data := strings.Join([]string{
		`{"id": "bp1", "type": "blueprints_blueprint", "content": {"key": "k"}, "parentId": "blueprints_root"}`,
		`{"id": "a", "type": "blueprints_setstate", "content": {"element": "x", "value": 3}, "parentId": "bp1", "outs": [{"outId": "success", "toNodeId": "b"}, {"outId": "success"}]}`,
		`not json`,
		``,
		`{"id": "a", "type": "blueprints_logmessage", "parentId": "bp1"}`,
		`{"id": 7, "type": "blueprints_logmessage", "parentId": "bp1"}`,
		`{"id": "c", "type": "blueprints_logmessage", "parentId": "bp1", "content": "x", "outs": {}}`,
		`{"id": "o", "type": "blueprints_logmessage", "parentId": "nowhere"}`,
	}, "\r\n")
	bps, err := ParseWriter("f.jsonl", []byte(data))
	if len(bps) != 1 {
		t.Fatalf("%d blueprints", len(bps))
	}
	if err == nil || !strings.Contains(err.Error(), "f.jsonl:8: o: component of type blueprints_logmessage belongs to no blueprint") {
		t.Errorf("loose error = %v", err)
	}
	bp := bps[0]
	if bp.Key != "k" || len(bp.Blocks) != 2 || bp.Blocks[1].ID != "c" {
		t.Fatalf("blueprint %+v", bp)
	}
	if a := bp.Blocks[0]; a.Fields["value"] != 3 || len(a.Outs) != 1 {
		t.Errorf("block a: %+v", a)
	}
	var msgs []string
	for _, p := range bp.LoadErrors {
		msgs = append(msgs, p.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		"f.jsonl:2: a: outs[1]: expected {",
		"f.jsonl:3: not a JSON object",
		`f.jsonl:5: a: duplicate block id "a" (first at f.jsonl:2)`,
		`f.jsonl:6: id: expected a string, found a number`,
		`f.jsonl:7: c: content: expected an object, found a string`,
		`f.jsonl:7: c: outs: expected a list`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

// A type that is Writer's prefix alone stays whole, so that validation
// reports it as an unknown type rather than a missing one.
func TestWriterPrefixAloneIsAType(t *testing.T) {
	bps, err := ParseWriter("f.jsonl", []byte(wfBlueprint+"\n"+`{"id": "j", "type": "blueprints_", "content": {}, "parentId": "wfbp"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(bps) != 1 {
		t.Fatalf("%d blueprints", len(bps))
	}
	if b := bps[0].Block("j"); b == nil || b.Type != "blueprints_" {
		t.Fatalf("block j: %+v", b)
	}
}
