package blueprints

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	goccyyaml "github.com/goccy/go-yaml"
	goccy "github.com/goccy/go-yaml/parser"
	yaml "go.yaml.in/yaml/v3"

	"github.com/bprun/bp/engine"
)

// Native blueprint files: *.bp.yaml, *.bp.yml and *.bp.json. JSON
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

// namePattern is what secret and environment variable names look like:
// ASCII letters, digits and _, not starting with a digit.
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

// ParseNative reads one native blueprint within the default Limits. name is
// the file name, used for positions and for the default key. Problems the
// blueprint can carry (unknown keys, wrong kinds of values, duplicate block
// ids) are in its LoadErrors; only a file that is not YAML at all gives an
// error, a *SyntaxError that says where, and a file over the Limits a
// *LimitError.
func ParseNative(name string, data []byte) (*engine.Blueprint, error) {
	return Limits{}.ParseNative(name, data)
}

// ParseNative is the package's ParseNative within these limits.
func (l Limits) ParseNative(name string, data []byte) (*engine.Blueprint, error) {
	if int64(len(data)) > l.maxFileBytes() {
		return nil, tooLarge(name, int64(len(data)), l.maxFileBytes())
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	values, err := checkShape(name, data)
	if err != nil {
		return nil, err
	}
	body, second, err := parseYAML(name, data)
	if err != nil {
		return nil, diagnose(name, data, values, err)
	}
	return buildNative(name, body, second), nil
}

// buildNative reads a blueprint from the body of a file's first document;
// second is the second document's, if there is one.
func buildNative(name string, body, second *yaml.Node) *engine.Blueprint {
	bp := &engine.Blueprint{Key: NativeKey(name), Format: engine.FormatNative, Source: name}
	d := newYAMLDoc(name)
	if second != nil {
		d.problem(d.pos(second), "", "", "a blueprint file holds one YAML document; the documents after the first are ignored")
	}
	if body == nil {
		d.problem(engine.Pos{File: name}, "", "", "the file is empty; a blueprint needs at least blocks:")
		bp.LoadErrors = d.problems
		return bp
	}
	top, ok := d.entries(body, "", "", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, "", e.key, "duplicate key %s (first at line %d)", engine.Quote(e.key), first.Line)
	})
	if !ok {
		d.problem(d.pos(body), "", "", "a blueprint must be a mapping with key, description and blocks, found %s", describe(d.resolve(body)))
		bp.LoadErrors = d.problems
		return bp
	}
	hasBlocks := false
	for _, e := range top {
		switch e.key {
		case "key":
			if s, ok := d.scalarText(e.value); ok && s != "" && !isNull(d.resolve(e.value)) {
				bp.Key = s
			} else {
				d.problem(d.pos(e.value), "", e.key, "the key must be a non-empty string, found %s", describe(d.resolve(e.value)))
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
			d.problem(e.keyAt, "", "", "unknown key %s (a blueprint has %s)", engine.Quote(e.key), strings.Join(topKeys, ", "))
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
	return bp
}

// parseYAML runs the parser over the first document, and the second if
// there is one (to report it), and turns a failure into a *SyntaxError.
func parseYAML(name string, data []byte) (body, second *yaml.Node, err error) {
	defer func() {
		// The parser is third-party code fed with user files; a crash in
		// it must become an error for that one file, not end bp serve.
		if r := recover(); r != nil {
			body, second, err = nil, nil, &SyntaxError{Pos: engine.Pos{File: name}, Message: fmt.Sprintf("the YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs [2]yaml.Node
	for i := range docs {
		err := dec.Decode(&docs[i])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return docBody(&docs[0]), docBody(&docs[1]), nil
}

// docBody is a document's content, nil for none.
func docBody(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// yamlErrLine reads the line out of the parser's "yaml: line 3: ..." errors.
var (
	yamlErrLine   = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// Files this small are parsed a second time when they are not YAML, by
// goccy/go-yaml, whose errors say the line and column where the text goes
// wrong (the parser's say a line only, sometimes the one before). That
// parser's cost grows with the square of a mapping's size: larger files
// get the first parser's error.
const (
	diagnoseMaxBytes  = 64 << 10
	diagnoseMaxValues = 5000
)

// diagnose turns a parse failure into a *SyntaxError that says where.
func diagnose(name string, data []byte, values int, err error) *SyntaxError {
	msg := firstLine(err.Error())
	se := &SyntaxError{Pos: engine.Pos{File: name}, Message: msg, Err: err}
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		se.Message = msg[len(m[0]):]
		se.Pos.Line, _ = strconv.Atoi(m[1])
	}
	if m := unknownAnchor.FindStringSubmatch(se.Message); m != nil {
		// Say where the alias is: the parser does not.
		se.Message = "unknown alias *" + m[1]
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			se.Pos.Line = bytes.Count(data[:i], []byte("\n")) + 1
			se.Pos.Column = utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i]) + 1
		}
		return se
	}
	if len(data) <= diagnoseMaxBytes && values <= diagnoseMaxValues {
		if precise := goccyError(name, data); precise != nil {
			se = precise
		}
	}
	se.Message = engine.Printable(se.Message)
	return se
}

// goccyError is goccy/go-yaml's error for data, nil if it has none.
func goccyError(name string, data []byte) (se *SyntaxError) {
	defer func() {
		if recover() != nil {
			se = nil
		}
	}()
	_, err := goccy.ParseBytes(data, 0, goccy.AllowDuplicateMapKey())
	var yerr goccyyaml.Error
	if err == nil || !errors.As(err, &yerr) {
		return nil
	}
	se = &SyntaxError{Pos: engine.Pos{File: name}, Message: yerr.GetMessage(), Err: err}
	if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
		se.Pos.Line, se.Pos.Column = tk.Position.Line, tk.Position.Column
	}
	return se
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// text reads a value that must be a string (null is "").
func (d *yamlDoc) text(n *yaml.Node, block, field string) string {
	r := d.resolve(n)
	if isNull(r) {
		return ""
	}
	s, ok := d.scalarText(r)
	if !ok {
		d.problem(d.pos(n), block, field, "expected a string, found %s", describe(r))
	}
	return s
}

// names reads vault: or env:, a list of names. The result is never nil once
// the key is present, even for "vault: []" or a bare "vault:": listing the
// key at all means "only these", and an allow-list must fail closed.
func (d *yamlDoc) names(n *yaml.Node, field, what string) []string {
	out := []string{}
	r := d.resolve(n)
	switch {
	case isNull(r):
		return out
	case r.Kind == yaml.SequenceNode:
		for _, item := range r.Content {
			s, ok := d.scalarText(item)
			switch {
			case !ok:
				d.problem(d.pos(item), "", field, "expected a %s name, found %s", what, describe(d.resolve(item)))
			case !namePattern.MatchString(s):
				d.problem(d.pos(item), "", field, "%s is not a valid %s name (letters, digits and _, not starting with a digit)", engine.Quote(s), what)
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
func (d *yamlDoc) blocks(n *yaml.Node) []*engine.BlockSpec {
	r := d.resolve(n)
	if isNull(r) {
		return nil
	}
	es, ok := d.entries(r, "", "blocks", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, e.key, "", "duplicate block id %s (first defined at %s)", engine.Quote(e.key), first)
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
	r := d.resolve(e.value)
	es, ok := d.entries(r, id, "", func(dup entry, first engine.Pos) {
		d.problem(dup.keyAt, id, dup.key, "duplicate key %s (first at line %d)", engine.Quote(dup.key), first.Line)
	})
	if !ok {
		at := d.pos(e.value)
		if isNull(r) && (e.value == nil || e.value.Value == "") {
			at = e.keyAt // "id:" with nothing after it has no position of its own
		}
		d.problem(at, id, "", "a block must be a mapping with type, fields and outs, found %s", describe(r))
		return spec
	}
	// A missing type is left for validation to report ("missing block
	// type"), which does so for blueprints built in Go as well.
	for _, be := range es {
		switch be.key {
		case "type":
			t, ok := d.scalarText(be.value)
			if !ok || t == "" || isNull(d.resolve(be.value)) {
				d.problem(d.pos(be.value), id, be.key, "the type must be a block type name, found %s", describe(d.resolve(be.value)))
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
			d.problem(be.keyAt, id, "", "unknown key %s (a block has %s)", engine.Quote(be.key), strings.Join(blockKeys, ", "))
		}
	}
	return spec
}

// fields reads fields:, a mapping of field name to any YAML value.
func (d *yamlDoc) fields(spec *engine.BlockSpec, n *yaml.Node) {
	id := spec.ID
	r := d.resolve(n)
	if isNull(r) {
		return
	}
	es, ok := d.entries(r, id, "fields", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, id, e.key, "duplicate field %s (first at line %d)", engine.Quote(e.key), first.Line)
	})
	if !ok {
		d.problem(d.pos(n), id, "fields", "expected a mapping of field names to values, found %s", describe(r))
		return
	}
	for _, e := range es {
		spec.Fields[e.key] = d.value(e.value, id, e.key, 0)
		if isNull(e.value) && e.value.Value == "" {
			spec.FieldPos[e.key] = e.keyAt
		} else {
			spec.FieldPos[e.key] = d.textPos(e.value)
		}
	}
}

// outs reads outs:, a mapping of outcome to one target id or a list of
// them. Each edge keeps the position of its target id.
func (d *yamlDoc) outs(id string, n *yaml.Node) []engine.Edge {
	r := d.resolve(n)
	if isNull(r) {
		return nil
	}
	es, ok := d.entries(r, id, "outs", func(e entry, first engine.Pos) {
		d.problem(e.keyAt, id, "outs", "duplicate outcome %s (first at line %d); list several targets instead: %s: [a, b]", engine.Quote(e.key), first.Line, engine.Short(e.key))
	})
	if !ok {
		d.problem(d.pos(n), id, "outs", "expected a mapping of outcomes to block ids, found %s", describe(r))
		return nil
	}
	var edges []engine.Edge
	target := func(outcome string, t *yaml.Node) {
		to, ok := d.scalarText(t)
		if !ok || to == "" || isNull(d.resolve(t)) {
			d.problem(d.pos(t), id, "outs."+outcome, "expected a block id, found %s", describe(d.resolve(t)))
			return
		}
		edges = append(edges, engine.Edge{Outcome: outcome, To: to, Pos: d.pos(t)})
	}
	for _, e := range es {
		v := d.resolve(e.value)
		switch {
		case isNull(v):
			d.problem(e.keyAt, id, "outs."+e.key, "expected a block id or a list of block ids, found null")
		case v.Kind == yaml.SequenceNode:
			for _, item := range v.Content {
				target(e.key, item)
			}
		default:
			target(e.key, e.value)
		}
	}
	return edges
}
