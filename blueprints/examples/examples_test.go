package examples_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bprun/bp/bptest"
)

// TestGolden runs the golden-file cases of the bundled examples
// (testdata/NAME/case.yaml beside NAME.bp.yaml). BPTEST_UPDATE=1 rewrites
// the golden files.
func TestGolden(t *testing.T) {
	bptest.Run(t, ".")
}

// behaviourChanges is, for each example, an edit that changes what it
// does: its golden files must notice.
var behaviourChanges = map[string]struct{ old, new string }{
	"classify-temp.bp.yaml": {`payload.temp_c >= 18`, `payload.temp_c >= 25`},
	"demo.bp.yaml":          {`@{result.temp_c} °C`, `@{result.temp_c} degrees`},
	"forecast.bp.yaml":      {`verdict: unknown,`, `verdict: not found,`},
	"login.bp.yaml":         {"      mask: body.access_token\n", ""},
	"paginate.bp.yaml":      {`concat(state.list.items, result.body.items)`, `result.body.items`},
	"retry.bp.yaml":         {`attempts: 3`, `attempts: 2`},
}

// TestEachExampleFailsWhenItsBehaviourChanges edits each example in a
// copy of this directory and runs its cases: at least one fails. An
// example without cases, or without an edit here, fails too.
func TestEachExampleFailsWhenItsBehaviourChanges(t *testing.T) {
	files, err := filepath.Glob("*.bp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			change, ok := behaviourChanges[file]
			if !ok {
				t.Fatalf("no edit for %s in behaviourChanges", file)
			}
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, file)
			res, err := bptest.RunCases(context.Background(), path, bptest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) == 0 {
				t.Fatalf("%s has no cases", file)
			}
			for _, r := range res {
				if !r.Passed {
					t.Fatalf("unedited, %s fails: %v\n%s", r.Name, r.Err, r.Diff)
				}
			}

			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(string(src), change.old) != 1 {
				t.Fatalf("%s does not hold %q once", file, change.old)
			}
			edited := strings.Replace(string(src), change.old, change.new, 1)
			if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err = bptest.RunCases(context.Background(), path, bptest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !r.Passed {
					return
				}
			}
			t.Errorf("every case of %s passes after %q became %q", file, change.old, change.new)
		})
	}
}
