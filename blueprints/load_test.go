package blueprints

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bprun/bp/engine"
)

const okBlueprint = "blocks:\n  a: {type: returnvalue, fields: {value: 1}}\n"

var wfRoot = `{"id": "blueprints_root", "type": "blueprints_root", "content": {}}`

var wfBlueprint = strings.Join([]string{
	`{"id": "wfbp", "type": "blueprints_blueprint", "content": {"key": "from_writer"}, "parentId": "blueprints_root"}`,
	`{"id": "t", "type": "blueprints_apitrigger", "content": {}, "parentId": "wfbp", "outs": [{"outId": "trigger", "toNodeId": "r"}]}`,
}, "\n")

// wfBlock sits in another file than its blueprint: a folder is assembled
// as a whole.
var wfBlock = `{"id": "r", "type": "blueprints_returnvalue", "content": {"value": "1"}, "parentId": "wfbp"}`

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirectory(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"good.bp.yaml":           okBlueprint,
		"broken.bp.yaml":         "blocks:\n  a: {type: x\n",
		"sub/nested.bp.yml":      "key: nested_key\n" + okBlueprint,
		"sub/j.bp.json":          `{"blocks": {"a": {"type": "returnvalue"}}}`,
		"problem.bp.yaml":        "blocks:\n  a: {type: returnvalue, bogus: 1}\n",
		"one.bp.yaml":            "key: dup\n" + okBlueprint,
		"sub/two.bp.yaml":        "key: dup\n" + okBlueprint,
		"notes.yaml":             "not: a blueprint\n",
		"testdata/t.bp.yaml":     okBlueprint,
		".git/x.bp.yaml":         okBlueprint,
		".#good.bp.yaml":         "garbage: [",
		"node_modules/n.bp.yaml": okBlueprint,
		"app/.wf/components-blueprints_root.jsonl":              wfRoot,
		"app/.wf/components-blueprints_blueprint-0-wfbp.jsonl":  wfBlueprint,
		"app/.wf/components-blueprints_blueprint-9-extra.jsonl": wfBlock,
		"app/.wf/components-page-0-x.jsonl":                     "not read",
		"loose/components-blueprints_blueprint-0-orphan.jsonl":  `{"id": "o", "type": "blueprints_setstate", "parentId": "gone"}`,
	})
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Keys(), " "); got != "from_writer good j nested_key problem" {
		t.Errorf("keys = %s", got)
	}

	// The valid ones load; the broken one is reported when asked for.
	if bp, err := set.Get("good"); err != nil || bp.Source != filepath.Join(dir, "good.bp.yaml") {
		t.Errorf("Get(good) = %v, %v", bp, err)
	}
	_, err = set.Get("broken")
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "broken.bp.yaml")+":2:") {
		t.Errorf("Get(broken) error = %v", err)
	}
	// Problems travel with the blueprint, for validation to report.
	if bp, err := set.Get("problem"); err != nil || len(bp.LoadErrors) != 1 {
		t.Errorf("Get(problem) = %v, %v", bp, err)
	}
	// Duplicate keys: neither loads, and the error names both files.
	_, err = set.Get("dup")
	var dup *DuplicateKeyError
	if !errors.As(err, &dup) || len(dup.Sources) != 2 ||
		!strings.Contains(err.Error(), filepath.Join(dir, "one.bp.yaml")) || !strings.Contains(err.Error(), filepath.Join(dir, "sub", "two.bp.yaml")) {
		t.Errorf("Get(dup) error = %v", err)
	}
	_, err = set.Get("nothing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "good") {
		t.Errorf("Get(nothing) error = %v", err)
	}

	// The Writer folder is assembled across its files.
	wf, err := set.Get("from_writer")
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.Blocks) != 2 || wf.Blocks[1].ID != "r" || !strings.HasSuffix(wf.Blocks[1].Pos.File, "components-blueprints_blueprint-9-extra.jsonl") {
		t.Errorf("writer blueprint %+v", wf)
	}

	var errs []string
	for _, e := range set.Errors {
		errs = append(errs, e.Error())
	}
	if len(errs) != 3 || !strings.Contains(errs[1], "loose") || !strings.Contains(errs[1], "belongs to no blueprint") {
		t.Errorf("errors:\n%s", strings.Join(errs, "\n"))
	}
	if set.Err() == nil {
		t.Error("Err() = nil")
	}
	if _, err := set.Only(); err == nil || !strings.Contains(err.Error(), "choose one by key") {
		t.Errorf("Only() error = %v", err)
	}
}

func TestLoadFileAndFolder(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"w.bp.yaml":                            okBlueprint,
		"plain.yaml":                           okBlueprint,
		"bad.bp.yaml":                          "a: 'x\n",
		"readme.txt":                           "hi",
		".wf/components-blueprints_root.jsonl": wfRoot,
		".wf/components-blueprints_blueprint-0-wfbp.jsonl": wfBlueprint,
	})
	for name, key := range map[string]string{"w.bp.yaml": "w", "plain.yaml": "plain"} {
		set, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bp, err := set.Only(); err != nil || bp.Key != key {
			t.Errorf("Load(%s).Only() = %v, %v", name, bp, err)
		}
	}
	set, err := Load(filepath.Join(dir, "bad.bp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Only(); err == nil || !strings.Contains(err.Error(), "bad.bp.yaml:1:4: syntax error") {
		t.Errorf("Only() of a broken file = %v", err)
	}
	if _, err := set.Get("bad"); err == nil {
		t.Error("Get(bad) of a broken file succeeded")
	}
	set, _ = Load(filepath.Join(dir, "readme.txt"))
	if _, err := set.Only(); err == nil || !strings.Contains(err.Error(), "not a blueprint file") {
		t.Errorf("Only() of readme.txt = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing path succeeded")
	}

	// A .wf folder named directly; its blueprint file alone.
	set, err = Load(filepath.Join(dir, ".wf"))
	if err != nil || len(set.Errors) > 0 {
		t.Fatal(err, set.Errors)
	}
	if bp, err := set.Only(); err != nil || bp.Key != "from_writer" {
		t.Errorf("Load(.wf).Only() = %v, %v", bp, err)
	}
	bps, err := LoadFile(filepath.Join(dir, ".wf", "components-blueprints_blueprint-0-wfbp.jsonl"))
	if err != nil || len(bps) != 1 || len(bps[0].Blocks) != 1 {
		t.Errorf("LoadFile(writer file) = %v, %v", bps, err)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"examples/a.bp.yaml": {Data: []byte(okBlueprint)},
		"examples/b.bp.yaml": {Data: []byte("key: bee\n" + okBlueprint)},
		"examples/c.bp.yaml": {Data: []byte("{")},
		"examples/x/.wf/components-blueprints_blueprint-0-wfbp.jsonl": {Data: []byte(wfBlueprint + "\n" + wfBlock)},
	}
	set, err := LoadFS(fsys, "examples")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Keys(), " "); got != "a bee from_writer" {
		t.Errorf("keys = %s", got)
	}
	if bp, _ := set.Get("a"); bp == nil || bp.Source != "examples/a.bp.yaml" {
		t.Errorf("source = %v", bp)
	}
	if _, err := set.Get("c"); err == nil || !strings.HasPrefix(err.Error(), "examples/c.bp.yaml:1:") {
		t.Errorf("Get(c) = %v", err)
	}
	set, err = LoadFS(fsys, "examples/b.bp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bp, err := set.Only(); err != nil || bp.Key != "bee" {
		t.Errorf("LoadFS(file).Only() = %v, %v", bp, err)
	}
}

// Keys are compared Unicode-normalised; a key that only looks like another
// is an error, and neither loads under it.
func TestSetKeysNormalisedAndLookalikes(t *testing.T) {
	nfc := &engine.Blueprint{Key: "caf\u00e9", Source: "a.bp.yaml"}
	nfd := &engine.Blueprint{Key: "cafe\u0301", Source: "b.bp.yaml"}
	set := NewSet([]*engine.Blueprint{nfc, nfd}, nil)
	var dup *DuplicateKeyError
	if len(set.Blueprints) != 0 || !errors.As(set.Err(), &dup) {
		t.Errorf("NFC and NFD keys: %+v %v", set.Blueprints, set.Err())
	}
	latin := &engine.Blueprint{Key: "pay", Source: "a.bp.yaml"}
	cyrillic := &engine.Blueprint{Key: "p\u0430y", Source: "b.bp.yaml"}
	set = NewSet([]*engine.Blueprint{latin, cyrillic}, nil)
	if _, err := set.Get("p\u0430y"); err == nil || !strings.Contains(err.Error(), `looks like the key "pay"`) {
		t.Errorf("look-alike: %v", err)
	}
	if bp, err := set.Get("pay"); err != nil || bp != latin {
		t.Errorf("the first key: %v %v", bp, err)
	}
	if got, err := NewSet([]*engine.Blueprint{nfc}, nil).Get("cafe\u0301"); err != nil || got != nfc {
		t.Errorf("Get in NFD: %v %v", got, err)
	}
}
