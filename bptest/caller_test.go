package bptest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bprun/bp/engine"
)

// TestFailureChild is run by TestFailuresPointAtTheCaller in a child
// process: its failure is the output under test.
func TestFailureChild(t *testing.T) {
	dir := os.Getenv("BPTEST_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestFailuresPointAtTheCaller")
	}
	Run(t, dir) // failures point here
}

// TestFailuresPointAtTheCaller runs a failing case through Run in a child
// process: go test names the caller's line, not one inside bptest.
func TestFailuresPointAtTheCaller(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"weather.bp.yaml": weatherBP, "testdata/weather/case.yaml": weatherCase})
	one(t, runCases(t, dir, Options{Update: true}))
	gp := filepath.Join(dir, "testdata/weather/golden.json")
	golden, _ := os.ReadFile(gp)
	if err := os.WriteFile(gp, []byte(strings.Replace(string(golden), "21.5", "19", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run", "^TestFailureChild$", "-test.v")
	cmd.Env = append(os.Environ(), "BPTEST_CHILD_DIR="+dir, "BPTEST_UPDATE=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child passed:\n%s", out)
	}
	want := "caller_test.go:" + strconv.Itoa(lineOf(t, "caller_test.go", "// failures point here")) + ":"
	if !strings.Contains(string(out), want) || regexp.MustCompile(`bptest\.go:\d+`).Match(out) {
		t.Errorf("the failure does not point at %s:\n%s", want, out)
	}
}

// lineOf is the number of the first line of file holding text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), text) && !strings.Contains(sc.Text(), "lineOf") {
			return n
		}
	}
	t.Fatalf("%s lacks %q", file, text)
	return 0
}

// shout is a caller's own block type: its text, upper-cased.
type shout struct{}

func (shout) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "shout", Fields: []engine.FieldSpec{{Name: "text", Kind: engine.FieldText}}, Outcomes: []string{"success", "error"}}
}

func (shout) Run(ctx context.Context, c *engine.Call) engine.Result {
	s, err := c.String("text")
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(strings.ToUpper(s))
}

func TestCallersBlockTypes(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"loud.bp.yaml": `blocks:
  s: {type: shout, fields: {text: "hello @{payload}"}, outs: {success: r}}
  r: {type: returnvalue, fields: {value: "@{result}"}}
`,
		"testdata/loud/case.yaml": "payload: world\n",
	})
	if r := one(t, runCases(t, dir, Options{Update: true})); r.Passed || r.Err == nil || !strings.Contains(r.Err.Error(), "shout") {
		t.Fatalf("without the type: %+v", r)
	}
	opts := Options{Types: []engine.BlockType{shout{}}}
	opts.Update = true
	if r := one(t, runCases(t, dir, opts)); !r.Passed {
		t.Fatalf("with the type: %+v", r)
	}
	golden, _ := os.ReadFile(filepath.Join(dir, "testdata/loud/golden.json"))
	if !strings.Contains(string(golden), `"return": "HELLO WORLD"`) {
		t.Errorf("golden:\n%s", golden)
	}
	RunWith(t, dir, Options{Types: []engine.BlockType{shout{}}})
}
