package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// Fault is one change a careless refactor could make to a guard: the text
// Find, which must occur exactly once in File, becomes Replace. Packages
// are the tests that must catch it (go test arguments, ./runner); Run
// narrows them (go test -run), empty for all of them.
type Fault struct {
	Name     string   `yaml:"name"`
	File     string   `yaml:"file"`
	Find     string   `yaml:"find"`
	Replace  string   `yaml:"replace"`
	Packages []string `yaml:"packages"`
	Run      string   `yaml:"run"`
}

// readFaults reads a list of faults and checks each is complete.
func readFaults(path string) ([]Fault, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var faults []Fault
	if err := yaml.UnmarshalWithOptions(b, &faults, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, f := range faults {
		where := fmt.Sprintf("%s: fault %d (%s)", path, i+1, f.Name)
		switch {
		case f.Name == "":
			return nil, fmt.Errorf("%s: no name", where)
		case seen[f.Name]:
			return nil, fmt.Errorf("%s: the name is used twice", where)
		case f.File == "" || filepath.IsAbs(f.File) || strings.HasPrefix(filepath.Clean(f.File), ".."):
			return nil, fmt.Errorf("%s: file must be a path inside the module", where)
		case f.Find == "" || f.Find == f.Replace:
			return nil, fmt.Errorf("%s: find must be set and differ from replace", where)
		case len(f.Packages) == 0:
			return nil, fmt.Errorf("%s: no packages to test", where)
		}
		if f.Run != "" {
			if _, err := regexp.Compile(f.Run); err != nil {
				return nil, fmt.Errorf("%s: run: %w", where, err)
			}
		}
		seen[f.Name] = true
	}
	return faults, nil
}

// apply returns src with the fault planted, or an error when Find is not
// there exactly once (the code moved on: the fault must be rewritten).
func (f Fault) apply(src []byte) ([]byte, error) {
	switch n := bytes.Count(src, []byte(f.Find)); n {
	case 1:
		return bytes.Replace(src, []byte(f.Find), []byte(f.Replace), 1), nil
	case 0:
		return nil, fmt.Errorf("%s: the text to change is not there", f.File)
	default:
		return nil, fmt.Errorf("%s: the text to change occurs %d times", f.File, n)
	}
}
