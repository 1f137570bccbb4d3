package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module with one guarded function and its test, and one function no
// test checks.
var moduleFiles = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"guard.go": `package m

// Allowed is the guard.
func Allowed(name string) bool { return name == "ok" }

// Next has no test.
func Next(n int) int { return n + 1 }
`,
	"guard_test.go": `package m

import "testing"

func TestAllowed(t *testing.T) {
	if !Allowed("ok") || Allowed("no") {
		t.Fatal("the guard lets the wrong names through")
	}
}
`,
}

const faultList = `
- name: guard removed
  file: guard.go
  find: 'return name == "ok"'
  replace: 'return true'
  packages: [.]
- name: untested change
  file: guard.go
  find: "return n + 1"
  replace: "return n"
  packages: [.]
- name: code moved on
  file: guard.go
  find: "return name == \"fine\""
  replace: "return true"
  packages: [.]
- name: does not compile
  file: guard.go
  find: "return n + 1"
  replace: "return n +"
  packages: [.]
`

func writeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range moduleFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "faults.yaml"), []byte(faultList), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditReportsEachVerdict(t *testing.T) {
	dir := writeModule(t)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-C", dir, "-faults", filepath.Join(dir, "faults.yaml")}, &out, &errs)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a fault survived):\n%s%s", code, out.String(), errs.String())
	}
	for _, want := range []string{
		"caught    guard removed  (guard.go): TestAllowed\n",
		"SURVIVED  untested change  (guard.go)\n",
		"STALE     code moved on  (guard.go)\n",
		"the text to change is not there",
		"BROKEN    does not compile  (guard.go)\n",
		"faultaudit: 1 caught, 1 survived, 1 stale, 1 broken\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	// The faults went into a copy: the module is as it was.
	for name, text := range moduleFiles {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != text {
			t.Errorf("%s changed: %v\n%s", name, err, b)
		}
	}
}

func TestAuditPassesWhenEveryFaultIsCaught(t *testing.T) {
	dir := writeModule(t)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-C", dir, "-faults", filepath.Join(dir, "faults.yaml"), "-run", "^guard removed$"}, &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "1 caught, 0 survived") {
		t.Errorf("exit %d:\n%s%s", code, out.String(), errs.String())
	}
}

func TestAuditRefusesARedBaseline(t *testing.T) {
	dir := writeModule(t)
	broken := strings.Replace(moduleFiles["guard.go"], `name == "ok"`, `name == "ko"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "guard.go"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-C", dir, "-faults", filepath.Join(dir, "faults.yaml"), "-run", "^guard removed$"}, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "the tests fail without any fault planted") {
		t.Errorf("exit %d:\n%s%s", code, out.String(), errs.String())
	}
}

func TestReadFaultsRefusesIncompleteFaults(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"- {file: a.go, find: x, replace: y, packages: [.]}", "no name"},
		{"- {name: a, file: /etc/passwd, find: x, replace: y, packages: [.]}", "inside the module"},
		{"- {name: a, file: ../a.go, find: x, replace: y, packages: [.]}", "inside the module"},
		{"- {name: a, file: a.go, find: x, replace: x, packages: [.]}", "differ"},
		{"- {name: a, file: a.go, find: x, replace: y}", "no packages"},
		{"- {name: a, file: a.go, find: x, replace: y, packages: [.], run: '('}", "run:"},
		{"- {name: a, file: a.go, find: x, replace: y, packages: [.]}\n- {name: a, file: b.go, find: x, replace: y, packages: [.]}", "used twice"},
		{"- {name: a, file: a.go, find: x, replace: y, packages: [.], tests: [.]}", "unknown field"},
	} {
		path := filepath.Join(t.TempDir(), "faults.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readFaults(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestApplyNeedsTheTextExactlyOnce(t *testing.T) {
	f := Fault{File: "a.go", Find: "x", Replace: "y"}
	if got, err := f.apply([]byte("a x b")); err != nil || string(got) != "a y b" {
		t.Errorf("%q %v", got, err)
	}
	if _, err := f.apply([]byte("x x")); err == nil || !strings.Contains(err.Error(), "2 times") {
		t.Errorf("twice: %v", err)
	}
}

// TestFaultsFileIsValid reads the module's own list: every fault is
// complete and still applies to the code.
func TestFaultsFileIsValid(t *testing.T) {
	faults, err := readFaults("faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(faults) < 6 {
		t.Errorf("only %d faults", len(faults))
	}
	for _, f := range faults {
		src, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(f.File)))
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if _, err := f.apply(src); err != nil {
			t.Errorf("%s is stale: %v", f.Name, err)
		}
	}
}
