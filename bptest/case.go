package bptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/scrub"
)

// maxCaseBytes bounds a case.yaml: recorded exchanges, not data sets.
const maxCaseBytes = 8 << 20

// hasAlias reports whether a YAML file uses an alias.
func hasAlias(f *ast.File) bool {
	found := false
	for _, doc := range f.Docs {
		ast.Walk(aliasFinder{&found}, doc)
	}
	return found
}

type aliasFinder struct{ found *bool }

func (a aliasFinder) Visit(n ast.Node) ast.Visitor {
	if _, ok := n.(*ast.AliasNode); ok {
		*a.found = true
		return nil
	}
	return a
}

// File names of a case.
const (
	CaseFile   = "case.yaml"
	GoldenFile = "golden.json"
	// DefaultTimeout bounds a case's run when case.yaml sets no timeout.
	DefaultTimeout = time.Minute
)

// testCase is one case found on disk.
type testCase struct {
	name      string // "NAME" or "NAME/CASE"
	blueprint string // the blueprint file
	root      string // the directory whose blueprints the run can call
	dir       string // the directory holding case.yaml and golden.json
}

func (c *testCase) casePath() string   { return filepath.Join(c.dir, CaseFile) }
func (c *testCase) goldenPath() string { return filepath.Join(c.dir, GoldenFile) }

// findCases lists the cases at path (a blueprint file or a directory),
// sorted by name.
func findCases(path string) ([]*testCase, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		name := blueprints.NativeKey(filepath.Base(path))
		return casesOf(name, path, filepath.Dir(path))
	}
	var out []*testCase
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == path {
				return err
			}
			return nil // unreadable corners are not test cases
		}
		name := d.Name()
		if d.IsDir() {
			if p != path && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || !blueprints.IsNativeFile(name) {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		cs, err := casesOf(blueprints.NativeKey(filepath.ToSlash(rel)), p, path)
		if err != nil {
			return err
		}
		if dir := filepath.ToSlash(filepath.Dir(rel)); dir != "." {
			for _, c := range cs {
				c.name = dir + "/" + c.name
			}
		}
		out = append(out, cs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// casesOf lists the cases of one blueprint file: testdata/NAME/case.yaml
// and testdata/NAME/*/case.yaml.
func casesOf(name, file, root string) ([]*testCase, error) {
	dir := filepath.Join(filepath.Dir(file), "testdata", name)
	var out []*testCase
	if isFile(filepath.Join(dir, CaseFile)) {
		out = append(out, &testCase{name: name, blueprint: file, root: root, dir: dir})
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries { // sorted by name
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if isFile(filepath.Join(sub, CaseFile)) {
			out = append(out, &testCase{name: name + "/" + e.Name(), blueprint: file, root: root, dir: sub})
		}
	}
	return out, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// caseFile is case.yaml as written.
type caseFile struct {
	Blueprint string            `yaml:"blueprint"`
	Trigger   string            `yaml:"trigger"`
	Payload   any               `yaml:"payload"`
	Context   map[string]any    `yaml:"context"`
	State     any               `yaml:"state"`
	Timeout   string            `yaml:"timeout"`
	Vault     map[string]any    `yaml:"vault"`
	Env       map[string]string `yaml:"env"`
	HTTP      []exchangeFile    `yaml:"http"`
}

type exchangeFile struct {
	Request struct {
		Method     string         `yaml:"method"`
		URL        string         `yaml:"url"`
		URLPattern string         `yaml:"urlPattern"`
		Headers    map[string]any `yaml:"headers"`
		Body       any            `yaml:"body"`
	} `yaml:"request"`
	Response struct {
		Status  int            `yaml:"status"`
		Headers map[string]any `yaml:"headers"`
		Body    any            `yaml:"body"`
		Error   string         `yaml:"error"`
	} `yaml:"response"`
	Repeat bool `yaml:"repeat"`
}

// caseSpec is a parsed, checked case.yaml.
type caseSpec struct {
	blueprint string
	trigger   string
	payload   any
	context   map[string]any
	state     map[string]any
	timeout   time.Duration
	vault     fakeVault
	env       map[string]string
	exchanges []*exchange
}

// parseCase reads case.yaml. Its errors never quote vault values.
func parseCase(path string) (spec *caseSpec, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxCaseBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxCaseBytes)
	}
	// Aliases let a few bytes expand to gigabytes; a case has no need of
	// them.
	if file, perr := parser.ParseBytes(data, 0); perr == nil && hasAlias(file) {
		return nil, fmt.Errorf("%s: YAML aliases (*name) are not allowed in a case", path)
	}
	var f caseFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		// The parser quotes the source around an error, and the source
		// holds the fake vault: say where, not what.
		return nil, fmt.Errorf("%s: %s", path, firstLine(err.Error()))
	}
	// Errors from here on may quote a value of the case (a pattern, a
	// timeout) that holds a fake secret: mask the case's vault in them.
	defer func() {
		if err != nil {
			s := scrub.New()
			for _, v := range f.Vault {
				if str, ok := v.(string); ok {
					s.Add(str)
				}
			}
			err = s.Error(err)
		}
	}()
	c := &caseSpec{blueprint: f.Blueprint, trigger: f.Trigger, timeout: DefaultTimeout, vault: fakeVault{}, env: f.Env}
	if c.payload, err = jsonValue(f.Payload); err != nil {
		return nil, fmt.Errorf("%s: payload: %v", path, err)
	}
	if f.Context != nil {
		v, err := jsonValue(f.Context)
		if err != nil {
			return nil, fmt.Errorf("%s: context: %v", path, err)
		}
		c.context, _ = v.(map[string]any)
	}
	if f.State != nil {
		v, err := jsonValue(f.State)
		if err != nil {
			return nil, fmt.Errorf("%s: state: %v", path, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: state: must be a mapping of state keys", path)
		}
		c.state = m
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: timeout: %q is not a positive duration (30s, 2m)", path, f.Timeout)
		}
		c.timeout = d
	}
	for name, v := range f.Vault {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: vault: %s: the value must be a string (quote it)", path, name)
		}
		c.vault[name] = s
	}
	for i, x := range f.HTTP {
		e, err := newExchange(i, x, c.vault)
		if err != nil {
			return nil, fmt.Errorf("%s: http[%d]: %v", path, i, err)
		}
		c.exchanges = append(c.exchanges, e)
	}
	return c, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// jsonValue turns a YAML value into the engine's JSON values (float64
// numbers, map[string]any, []any).
func jsonValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(yamlToJSON(v))
	if err != nil {
		return nil, err
	}
	return engine.DecodeJSON(b)
}

// yamlToJSON converts the maps YAML gives (with keys of any type) into
// maps with string keys.
func yamlToJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = yamlToJSON(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[fmt.Sprint(k)] = yamlToJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = yamlToJSON(x)
		}
		return out
	}
	return v
}

// compilePattern anchors a urlPattern.
func compilePattern(p string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + p + `)$`)
}
