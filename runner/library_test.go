package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/runner"
)

func TestLibraryReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	ret := func(word string) string {
		return "key: greet\nblocks:\n  done: {type: returnvalue, fields: {value: " + word + "}}\n"
	}
	// The file's name is not its key.
	write("other.bp.yaml", ret("v1"))
	write("plain.bp.yaml", ret("p1")[len("key: greet\n"):])
	load := func() *blueprints.Set {
		set, err := blueprints.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	lib := runner.NewLibrary(load(), blocks.Default(blocks.Options{}))
	r := runner.New(runner.Options{Library: lib})
	run := func(key string) any {
		t.Helper()
		res, err := r.Run(context.Background(), runner.Request{Blueprint: key})
		if err != nil {
			return err
		}
		return res.Return
	}
	if run("greet") != "v1" || run("plain") != "p1" {
		t.Fatalf("before: %v %v", run("greet"), run("plain"))
	}
	for _, bad := range []string{"key: greet\nblocks: [unclosed\n", "key: greet\nblocks:\n  done: {type: nosuch}\n"} {
		write("other.bp.yaml", bad)
		rep := lib.Reload(load())
		if rep.Rejected["greet"] == nil || rep.Blueprints != 2 || lib.Rejected()["greet"] == nil {
			t.Errorf("report for %q: %+v", bad, rep)
		}
		if got := run("greet"); got != "v1" {
			t.Errorf("after %q: %v, want the previous version", bad, got)
		}
	}
	write("other.bp.yaml", ret("v2"))
	if rep := lib.Reload(load()); len(rep.Rejected) != 0 || rep.Invalid != 0 {
		t.Errorf("valid reload: %+v", rep)
	}
	if run("greet") != "v2" || len(lib.Rejected()) != 0 {
		t.Errorf("after a valid change: %v %v", run("greet"), lib.Rejected())
	}
	// A new file that does not load has no version to keep.
	write("new.bp.yaml", "blocks: [")
	if rep := lib.Reload(load()); rep.Invalid != 1 || len(rep.Rejected) != 0 {
		t.Errorf("a new broken file: %+v", rep)
	}
	if err := os.Remove(filepath.Join(dir, "plain.bp.yaml")); err != nil {
		t.Fatal(err)
	}
	lib.Reload(load())
	if _, err := lib.Program("plain"); err == nil {
		t.Error("a removed blueprint is still served")
	}
}
