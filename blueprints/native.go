package blueprints

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/bprun/bp/engine"
)

// Native blueprint files (SPEC 2.1): *.bp.yaml, *.bp.yml and *.bp.json. JSON
// is YAML, so one parser reads all three.

// nativeSuffixes are the file name endings of native blueprints, longest
// first so that NativeKey strips ".bp.yaml" before ".yaml".
var nativeSuffixes = []string{".bp.yaml", ".bp.yml", ".bp.json"}

// plainSuffixes are accepted when a file is named explicitly (bp run x.yaml)
// but not picked up when scanning a directory, where any YAML file might be
// something else (CI config, docker-compose...).
var plainSuffixes = []string{".yaml", ".yml", ".json"}

// IsNativeFile reports whether a file name is a native blueprint's, as a
// directory scan sees it.
func IsNativeFile(name string) bool {
	base := path.Base(toSlash(name))
	for _, s := range nativeSuffixes {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return true
		}
	}
	return false
}

// NativeKey is the key a native blueprint gets when it has no "key:": its
// file name without directory and without the .bp.yaml (.bp.yml, .bp.json,
// or plain .yaml, .yml, .json) ending.
func NativeKey(name string) string {
	base := path.Base(toSlash(name))
	if base == "." || base == "/" {
		return ""
	}
	for _, s := range append(append([]string{}, nativeSuffixes...), plainSuffixes...) {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return strings.TrimSuffix(base, s)
		}
	}
	return base
}

func toSlash(name string) string { return strings.ReplaceAll(name, `\`, "/") }

// SyntaxError is a file the YAML parser could not read: there is no
// blueprint to report problems against, so the loader returns this instead.
type SyntaxError struct {
	Pos     engine.Pos
	Message string
	Err     error // the parser's own error, with a source excerpt
}

func (e *SyntaxError) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": syntax error: " + e.Message
	}
	return "syntax error: " + e.Message
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// namePattern is what secret and environment variable names look like
// (SPEC 7).
var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const typePrefix = "blueprints_"

// blockType is a block's type without Writer's "blueprints_" prefix; the
// prefix alone stays as it is, so that validation names it as unknown.
func blockType(t string) string {
	if s := strings.TrimPrefix(t, typePrefix); s != "" {
		return s
	}
	return t
}

// utf8BOM starts files saved by some Windows editors; neither YAML keys nor
// JSON lines should see it.
var utf8BOM = []byte("\ufeff")

var (
	topKeys   = []string{"key", "description", "vault", "env", "blocks"}
	blockKeys = []string{"type", "alias", "description", "fields", "outs"}
)

// ParseNative reads one native blueprint. name is the file name, used for
// positions and for the default key. Problems the blueprint can carry
// (unknown keys, wrong kinds of values, duplicate block ids) are in its
// LoadErrors; only a file that is not YAML at all gives an error, a
// *SyntaxError that says where.
func ParseNative(name string, data []byte) (bp *engine.Blueprint, err error) {
	f, err := parseYAML(name, bytes.TrimPrefix(data, utf8BOM))
	if err != nil {
		return nil, err
	}
	bp = &engine.Blueprint{Key: NativeKey(name), Format: engine.FormatNative, Source: name}
	var body ast.Node
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) > 0 {
		body = docs[0].Body
	}
	d := newYAMLDoc(name, body)
	if len(docs) > 1 {
		d.problem(d.pos(docs[1].Body), "", "", "a blueprint file holds one YAML document; the documents after the first are ignored")
	}
	if body == nil {
		d.problem(engine.Pos{File: name}, "", "", "the file is empty; a blueprint needs at least blocks:")
		bp.LoadErrors = d.problems
		return bp, nil
	}
	top, ok := d.entries(body, "", "", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, "", e.key, "duplicate key %q (first at line %d)", e.key, first.Line)
	})
	if !ok {
		if r := d.resolve(body, "", ""); r != nil {
			d.problem(d.pos(body), "", "", "a blueprint must be a mapping with key, description and blocks, found %s", describe(r))
		}
		bp.LoadErrors = d.problems
		return bp, nil
	}
	hasBlocks := false
	for _, e := range top {
		switch e.key {
		case "key":
			if s, ok := d.scalarText(e.value, "", e.key); ok && s != "" {
				bp.Key = s
			} else {
				d.problem(d.pos(e.value), "", e.key, "the key must be a non-empty string, found %s", describe(d.resolve(e.value, "", e.key)))
			}
		case "description":
			bp.Description = d.text(e.value, "", e.key)
		case "vault":
			bp.Vault = d.names(e.value, e.key, "secret")
		case "env":
			bp.Env = d.names(e.value, e.key, "environment variable")
		case "blocks":
			hasBlocks = true
			bp.Blocks = d.blocks(e.value)
		default:
			d.problem(e.keyAt, "", "", "unknown key %q (a blueprint has %s)", e.key, strings.Join(topKeys, ", "))
		}
	}
	if !hasBlocks {
		d.problem(d.pos(body), "", "", "the blueprint has no blocks: key")
	}
	if bp.Key == "" {
		d.problem(engine.Pos{File: name}, "", "", "the blueprint has no key and its file name gives none")
	}
	// Duplicates are found before the values around them: give the
	// problems in file order, as a reader goes through the file.
	slices.SortStableFunc(d.problems, func(a, b *engine.Problem) int {
		if a.Pos.Line != b.Pos.Line {
			return cmp.Compare(a.Pos.Line, b.Pos.Line)
		}
		return cmp.Compare(a.Pos.Column, b.Pos.Column)
	})
	bp.LoadErrors = d.problems
	return bp, nil
}

// parseYAML runs the parser and turns its failure into a *SyntaxError.
func parseYAML(name string, data []byte) (f *ast.File, err error) {
	defer func() {
		// The parser is third-party code fed with user files; a crash in
		// it must become an error for that one file, not end bp serve.
		if r := recover(); r != nil {
			f, err = nil, &SyntaxError{Pos: engine.Pos{File: name}, Message: fmt.Sprintf("the YAML parser failed: %v", r)}
		}
	}()
	// Duplicate keys are allowed here and reported by the loader, which
	// knows whether the key is a block id, a field or an outcome.
	f, err = parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		se := &SyntaxError{Pos: engine.Pos{File: name}, Message: firstLine(err.Error()), Err: err}
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			se.Message = yerr.GetMessage()
			if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
				se.Pos.Line, se.Pos.Column = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, se
	}
	return f, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// text reads a value that must be a string (null is "").
func (d *yamlDoc) text(n ast.Node, block, field string) string {
	r := d.resolve(n, block, field)
	if r == nil {
		return ""
	}
	if _, ok := r.(*ast.NullNode); ok {
		return ""
	}
	s, ok := d.scalarText(r, block, field)
	if !ok {
		d.problem(d.pos(n), block, field, "expected a string, found %s", describe(r))
	}
	return s
}

// names reads vault: or env:, a list of names. The result is never nil once
// the key is present, even for "vault: []" or a bare "vault:": listing the
// key at all means "only these", and an allow-list must fail closed.
func (d *yamlDoc) names(n ast.Node, field, what string) []string {
	out := []string{}
	r := d.resolve(n, "", field)
	switch x := r.(type) {
	case nil, *ast.NullNode:
		return out
	case *ast.SequenceNode:
		for _, item := range x.Values {
			s, ok := d.scalarText(item, "", field)
			switch {
			case !ok:
				d.problem(d.pos(item), "", field, "expected a %s name, found %s", what, describe(d.resolve(item, "", field)))
			case !namePattern.MatchString(s):
				d.problem(d.pos(item), "", field, "%q is not a valid %s name (letters, digits and _, not starting with a digit)", s, what)
			default:
				out = append(out, s)
			}
		}
	default:
		d.problem(d.pos(n), "", field, "expected a list of %s names, found %s", what, describe(r))
	}
	return out
}

// blocks reads the blocks: mapping, id → block, in file order.
func (d *yamlDoc) blocks(n ast.Node) []*engine.BlockSpec {
	r := d.resolve(n, "", "blocks")
	if r == nil {
		return nil
	}
	if _, ok := r.(*ast.NullNode); ok {
		return nil
	}
	es, ok := d.entries(r, "", "blocks", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, e.key, "", "duplicate block id %q (first defined at %s)", e.key, first)
	})
	if !ok {
		d.problem(d.pos(n), "", "blocks", "expected a mapping of block ids to blocks, found %s", describe(r))
		return nil
	}
	specs := make([]*engine.BlockSpec, 0, len(es))
	for _, e := range es {
		if e.key == "" {
			d.problem(e.keyAt, "", "blocks", "a block id must not be empty")
			continue
		}
		specs = append(specs, d.block(e))
	}
	return specs
}

// block reads one block. A block that is not a mapping is still returned,
// with no type, so that edges into it do not also report a missing target.
func (d *yamlDoc) block(e entry) *engine.BlockSpec {
	id := e.key
	spec := &engine.BlockSpec{ID: id, Pos: e.keyAt, Fields: map[string]any{}, FieldPos: map[string]engine.Pos{}}
	r := d.resolve(e.value, id, "")
	if r == nil {
		r = &ast.NullNode{}
	}
	es, ok := d.entries(r, id, "", func(dup entry, first engine.Pos) {
		d.problem(dup.keyAt, id, dup.key, "duplicate key %q (first at line %d)", dup.key, first.Line)
	})
	if !ok {
		d.problem(d.pos(e.value), id, "", "a block must be a mapping with type, fields and outs, found %s", describe(r))
		if _, isNull := r.(*ast.NullNode); isNull {
			// "id:" with nothing after it has no position of its own.
			d.problems[len(d.problems)-1].Pos = e.keyAt
		}
		return spec
	}
	// A missing type is left for validation to report ("missing block
	// type"), which does so for blueprints built in Go as well.
	for _, be := range es {
		switch be.key {
		case "type":
			t, ok := d.scalarText(be.value, id, be.key)
			if !ok || t == "" {
				d.problem(d.pos(be.value), id, be.key, "the type must be a block type name, found %s", describe(d.resolve(be.value, id, be.key)))
				continue
			}
			spec.Type = blockType(t)
		case "alias":
			spec.Alias = d.text(be.value, id, be.key)
		case "description":
			d.text(be.value, id, be.key) // documentation only
		case "fields":
			d.fields(spec, be.value)
		case "outs":
			spec.Outs = d.outs(id, be.value)
		default:
			d.problem(be.keyAt, id, "", "unknown key %q (a block has %s)", be.key, strings.Join(blockKeys, ", "))
		}
	}
	return spec
}

// fields reads fields:, a mapping of field name to any YAML value.
func (d *yamlDoc) fields(spec *engine.BlockSpec, n ast.Node) {
	id := spec.ID
	r := d.resolve(n, id, "fields")
	if r == nil {
		return
	}
	if _, ok := r.(*ast.NullNode); ok {
		return
	}
	es, ok := d.entries(r, id, "fields", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, id, e.key, "duplicate field %q (first at line %d)", e.key, first.Line)
	})
	if !ok {
		d.problem(d.pos(n), id, "fields", "expected a mapping of field names to values, found %s", describe(r))
		return
	}
	for _, e := range es {
		spec.Fields[e.key] = d.value(e.value, id, e.key, 0)
		if _, isNull := e.value.(*ast.NullNode); isNull || e.value == nil {
			spec.FieldPos[e.key] = e.keyAt
		} else {
			spec.FieldPos[e.key] = d.textPos(e.value)
		}
	}
}

// outs reads outs:, a mapping of outcome to one target id or a list of
// them. Each edge keeps the position of its target id.
func (d *yamlDoc) outs(id string, n ast.Node) []engine.Edge {
	r := d.resolve(n, id, "outs")
	if r == nil {
		return nil
	}
	if _, ok := r.(*ast.NullNode); ok {
		return nil
	}
	es, ok := d.entries(r, id, "outs", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, id, "outs", "duplicate outcome %q (first at line %d); list several targets instead: %s: [a, b]", e.key, first.Line, e.key)
	})
	if !ok {
		d.problem(d.pos(n), id, "outs", "expected a mapping of outcomes to block ids, found %s", describe(r))
		return nil
	}
	var edges []engine.Edge
	target := func(outcome string, t ast.Node) {
		to, ok := d.scalarText(t, id, "outs")
		if !ok || to == "" {
			at := d.pos(t)
			if t == nil {
				at = engine.Pos{File: d.file}
			}
			d.problem(at, id, "outs."+outcome, "expected a block id, found %s", describe(d.resolve(t, id, "outs")))
			return
		}
		edges = append(edges, engine.Edge{Outcome: outcome, To: to, Pos: d.pos(t)})
	}
	for _, e := range es {
		v := d.resolve(e.value, id, "outs")
		switch x := v.(type) {
		case nil, *ast.NullNode:
			d.problem(e.keyAt, id, "outs."+e.key, "expected a block id or a list of block ids, found null")
		case *ast.SequenceNode:
			for _, item := range x.Values {
				target(e.key, item)
			}
		default:
			target(e.key, e.value)
		}
	}
	return edges
}
