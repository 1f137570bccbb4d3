package blueprints

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/bprun/bp/engine"
)

// The native loader walks the YAML parser's node tree instead of decoding
// into Go structs: only the nodes know where each key and value was
// written, and we want every problem to point at a line and column. This
// file turns nodes into plain values (map[string]any, []any, int, float64,
// bool, nil, string) and resolves aliases, tags and merge keys on the way,
// within the limits of limits.go.

// yamlDoc holds what the walk over one document needs: the file name for
// positions, and the problems found so far.
type yamlDoc struct {
	file     string
	active   map[*yaml.Node]bool // anchored nodes being expanded, to stop cycles
	values   int                 // values produced so far, merged entries included
	tooBig   bool                // the MaxValues problem was reported
	tooDeep  bool                // the MaxDepth problem was reported
	problems []*engine.Problem
}

func newYAMLDoc(file string) *yamlDoc {
	return &yamlDoc{file: file, active: map[*yaml.Node]bool{}}
}

func (d *yamlDoc) problem(pos engine.Pos, block, field, format string, args ...any) {
	d.problems = append(d.problems, &engine.Problem{Pos: pos, Block: block, Field: field, Message: fmt.Sprintf(format, args...)})
}

// pos gives the position where a node starts as a user would see it (a
// block mapping's is its first key's).
func (d *yamlDoc) pos(n *yaml.Node) engine.Pos {
	if n == nil || n.Line == 0 {
		return engine.Pos{File: d.file}
	}
	return engine.Pos{File: d.file, Line: n.Line, Column: n.Column}
}

// textPos is where a value's text starts: inside the quotes of a quoted
// string, so that a column within a one-line template (counted from its
// first character) can be added to it.
func (d *yamlDoc) textPos(n *yaml.Node) engine.Pos {
	p := d.pos(n)
	if n != nil && n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && p.Column > 0 {
		p.Column++
	}
	return p
}

// resolve looks through aliases to the node that holds the content.
func (d *yamlDoc) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < MaxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names a node's kind for messages ("found a list").
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// scalarText gives a scalar's text as written: strings as they are,
// numbers and booleans as their source text. Ids, types and keys are names,
// so "key: 2024" means the name "2024", not a number.
func (d *yamlDoc) scalarText(n *yaml.Node) (string, bool) {
	n = d.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

// entry is one key/value pair of a mapping.
type entry struct {
	key   string
	keyAt engine.Pos
	value *yaml.Node
}

// entries lists a mapping's pairs in file order, with "<<" merge keys
// expanded (explicit keys win over merged ones, as YAML says). A second
// occurrence of a key is reported through dup and dropped, so the first one
// wins. It returns false when n is not a mapping.
func (d *yamlDoc) entries(n *yaml.Node, block, field string, dup func(e entry, first engine.Pos)) ([]entry, bool) {
	n = d.resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	var out, merged []entry
	seen := make(map[string]engine.Pos, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergeEntries(v, block, field, 0)...)
			continue
		}
		key, ok := d.scalarText(k)
		if !ok {
			d.problem(d.pos(k), block, field, "a mapping key must be a string, found %s", describe(d.resolve(k)))
			continue
		}
		if isNull(d.resolve(k)) {
			key = "null"
		}
		e := entry{key: key, keyAt: d.pos(k), value: v}
		if first, ok := seen[key]; ok {
			if dup != nil {
				dup(e, first)
			}
			continue
		}
		seen[key] = e.keyAt
		out = append(out, e)
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.keyAt
			out = append(out, e)
		}
	}
	return out, true
}

// mergeEntries expands the value of a "<<" key: a mapping or a list of
// mappings. Every entry it yields counts against MaxValues, kept or not:
// merges of merges multiply, and a few lines of them ("merge-key bomb")
// would otherwise take exponential time while producing little.
func (d *yamlDoc) mergeEntries(v *yaml.Node, block, field string, depth int) []entry {
	if depth > MaxDepth || d.tooBig {
		return nil
	}
	r := d.resolve(v)
	if r != nil && r.Kind == yaml.SequenceNode {
		var out []entry
		for _, item := range r.Content {
			out = append(out, d.mergeEntries(item, block, field, depth+1)...)
		}
		return out
	}
	if v.Kind == yaml.AliasNode {
		// Guard against "<<: *self" inside the anchored mapping itself.
		if r == nil || d.active[r] {
			return nil
		}
		d.active[r] = true
		defer delete(d.active, r)
	}
	es, ok := d.entries(r, block, field, nil)
	if !ok {
		if r != nil {
			d.problem(d.pos(v), block, field, "a merge key (<<) needs a mapping or a list of mappings, found %s", describe(r))
		}
		return nil
	}
	if !d.count(len(es)+1, v, block, field) {
		return nil
	}
	return es
}

// count adds n values to what the document produced; false once that is
// over MaxValues, which is reported once.
func (d *yamlDoc) count(n int, at *yaml.Node, block, field string) bool {
	d.values += n
	if d.values <= MaxValues {
		return true
	}
	if !d.tooBig {
		d.tooBig = true
		d.problem(d.pos(at), block, field, "value too large (more than %d values after expanding aliases and merge keys)", MaxValues)
	}
	return false
}

// value converts a node to a plain Go value: map[string]any, []any, int,
// float64, bool, nil or string.
func (d *yamlDoc) value(n *yaml.Node, block, field string, depth int) any {
	if n == nil {
		return nil
	}
	if !d.count(1, n, block, field) {
		return nil
	}
	if depth > MaxDepth {
		if !d.tooDeep {
			d.tooDeep = true
			d.problem(d.pos(n), block, field, "value nested more than %d levels deep", MaxDepth)
		}
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return scalarValue(n)
	case yaml.AliasNode:
		a := n.Alias
		if a == nil {
			d.problem(d.pos(n), block, field, "unknown alias *%s", n.Value)
			return nil
		}
		if d.active[a] {
			d.problem(d.pos(n), block, field, "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		return d.value(a, block, field, depth+1)
	case yaml.MappingNode:
		if n.Anchor != "" {
			d.active[n] = true
			defer delete(d.active, n)
		}
		es, _ := d.entries(n, block, field, func(e entry, first engine.Pos) {
			d.problem(e.keyAt, block, field, "duplicate key %s (first at line %d)", engine.Quote(e.key), first.Line)
		})
		m := make(map[string]any, len(es))
		for _, e := range es {
			m[e.key] = d.value(e.value, block, field, depth+1)
		}
		return m
	case yaml.SequenceNode:
		if n.Anchor != "" {
			d.active[n] = true
			defer delete(d.active, n)
		}
		list := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			list = append(list, d.value(item, block, field, depth+1))
		}
		return list
	}
	d.problem(d.pos(n), block, field, "unsupported YAML value")
	return nil
}

// scalarValue converts a scalar by its tag, as YAML resolved it (a plain
// 42 is !!int, "42" and !!str 42 are !!str). Tags other than the standard
// ones keep the text as written.
func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		switch n.Value {
		case "true", "True", "TRUE":
			return true
		case "false", "False", "FALSE":
			return false
		}
	case "!!int":
		plain := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			if i >= math.MinInt && i <= math.MaxInt {
				return int(i)
			}
			return float64(i)
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return float64(u)
		}
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			return f
		}
	case "!!float":
		switch strings.TrimLeft(n.Value, "+-") {
		case ".inf", ".Inf", ".INF":
			if strings.HasPrefix(n.Value, "-") {
				return math.Inf(-1)
			}
			return math.Inf(1)
		case ".nan", ".NaN", ".NAN":
			return math.NaN()
		}
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return f
		}
	}
	return n.Value
}
