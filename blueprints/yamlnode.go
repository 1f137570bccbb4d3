package blueprints

import (
	"fmt"
	"math"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/bprun/bp/engine"
)

// The native loader walks goccy/go-yaml's AST instead of decoding into Go
// structs: only the AST knows where each key and value was written, and we
// want every problem to point at a line and column. This file turns AST
// nodes into plain values (map[string]any, []any, int, float64, bool, nil,
// string) and resolves anchors, aliases, tags and merge keys on the way.

const (
	// maxDepth bounds nesting while converting values, so that a hostile
	// file cannot exhaust the stack through nested aliases.
	maxDepth = 256
	// maxNodes bounds the number of values produced, so that aliases that
	// refer to aliases ("billion laughs") cannot blow up memory.
	maxNodes = 1 << 18
)

// yamlDoc holds what the walk over one document needs: the file name for
// positions, the anchors defined in it, and the problems found so far.
type yamlDoc struct {
	file     string
	anchors  map[string][]*ast.AnchorNode // by name, in document order
	active   map[*ast.AnchorNode]bool     // anchors being expanded, to stop cycles
	nodes    int                          // values produced so far
	tooBig   bool                         // the maxNodes problem was reported
	tooDeep  bool                         // the maxDepth problem was reported
	problems []*engine.Problem
}

func newYAMLDoc(file string, body ast.Node) *yamlDoc {
	d := &yamlDoc{file: file, anchors: map[string][]*ast.AnchorNode{}, active: map[*ast.AnchorNode]bool{}}
	if body != nil {
		ast.Walk(anchorCollector(d.anchors), body)
	}
	return d
}

// anchorCollector records every anchor in the document up front, so that an
// alias can be resolved wherever the walk meets it (YAML: the nearest anchor
// of that name before the alias).
type anchorCollector map[string][]*ast.AnchorNode

func (c anchorCollector) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		name := a.Name.GetToken().Value
		c[name] = append(c[name], a)
	}
	return c
}

func (d *yamlDoc) problem(pos engine.Pos, block, field, format string, args ...any) {
	d.problems = append(d.problems, &engine.Problem{Pos: pos, Block: block, Field: field, Message: fmt.Sprintf(format, args...)})
}

// pos gives the position where a node starts as a user would see it.
func (d *yamlDoc) pos(n ast.Node) engine.Pos {
	if n == nil {
		return engine.Pos{File: d.file}
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		// A block-style mapping's token is the first ':'; its first key
		// is where it visibly starts.
		if !x.IsFlowStyle && len(x.Values) > 0 && x.Values[0].Key != nil {
			return d.pos(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if x.Key != nil {
			return d.pos(x.Key)
		}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return engine.Pos{File: d.file}
	}
	return engine.Pos{File: d.file, Line: tk.Position.Line, Column: tk.Position.Column}
}

// textPos is where a value's text starts: inside the quotes of a quoted
// string, so that a column within a one-line template (counted from its
// first character) can be added to it.
func (d *yamlDoc) textPos(n ast.Node) engine.Pos {
	p := d.pos(n)
	if s, ok := n.(*ast.StringNode); ok && s.Token != nil && p.Column > 0 {
		if t := s.Token.Type; t == token.DoubleQuoteType || t == token.SingleQuoteType {
			p.Column++
		}
	}
	return p
}

// anchorFor finds the anchor an alias refers to: the last one of that name
// defined before the alias.
func (d *yamlDoc) anchorFor(alias *ast.AliasNode) *ast.AnchorNode {
	if alias.Value == nil || alias.Value.GetToken() == nil {
		return nil
	}
	at := alias.GetToken().Position
	if at == nil {
		return nil
	}
	var found *ast.AnchorNode
	for _, a := range d.anchors[alias.Value.GetToken().Value] {
		ap := a.GetToken().Position
		if ap != nil && (ap.Line < at.Line || ap.Line == at.Line && ap.Column < at.Column) {
			found = a
		}
	}
	return found
}

// resolve looks through anchors, aliases and tags (other than !!str) to the
// node that holds the content. It reports an unknown alias and returns nil.
func (d *yamlDoc) resolve(n ast.Node, block, field string) ast.Node {
	for i := 0; n != nil && i < maxDepth; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			a := d.anchorFor(x)
			if a == nil {
				d.problem(d.pos(x), block, field, "unknown alias %s", x.String())
				return nil
			}
			n = a.Value
		case *ast.TagNode:
			if isStrTag(x) {
				return x
			}
			n = x.Value
		case *ast.MappingKeyNode:
			n = x.Value
		default:
			return n
		}
	}
	return n
}

func isStrTag(t *ast.TagNode) bool {
	if t.Start == nil {
		return false
	}
	v := t.Start.Value
	return v == "!!str" || v == "tag:yaml.org,2002:str" || v == "!<tag:yaml.org,2002:str>"
}

// describe names a node's kind for messages ("found a list").
func describe(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode, *ast.TagNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	default:
		return "a " + strings.ToLower(n.Type().String())
	}
}

// scalarText gives a scalar's text as written: strings as they are,
// numbers and booleans as their source text. Ids, types and keys are names,
// so "key: 2024" means the name "2024", not a number.
func (d *yamlDoc) scalarText(n ast.Node, block, field string) (string, bool) {
	n = d.resolve(n, block, field)
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.TagNode:
		return d.scalarText(x.Value, block, field)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return x.GetToken().Value, true
	}
	return "", false
}

// entry is one key/value pair of a mapping.
type entry struct {
	key   string
	keyAt engine.Pos
	value ast.Node
}

// entries lists a mapping's pairs in file order, with "<<" merge keys
// expanded (explicit keys win over merged ones, as YAML says). A second
// occurrence of a key is reported through dup and dropped, so the first one
// wins. It returns false when n is not a mapping.
func (d *yamlDoc) entries(n ast.Node, block, field string, dup func(e entry, first engine.Pos)) ([]entry, bool) {
	n = d.resolve(n, block, field)
	var pairs []*ast.MappingValueNode
	switch x := n.(type) {
	case *ast.MappingNode:
		pairs = x.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{x}
	default:
		return nil, false
	}
	var out, merged []entry
	seen := map[string]engine.Pos{}
	for _, p := range pairs {
		if p == nil || p.Key == nil {
			continue
		}
		if p.Key.IsMergeKey() {
			merged = append(merged, d.mergeEntries(p.Value, block, field, 0)...)
			continue
		}
		k := d.resolve(p.Key, block, field)
		if k == nil {
			continue // an unknown alias, reported by resolve
		}
		key, ok := d.scalarText(k, block, field)
		if !ok {
			if _, isNull := k.(*ast.NullNode); !isNull {
				d.problem(d.pos(p.Key), block, field, "a mapping key must be a string, found %s", describe(k))
				continue
			}
			key = "null"
		}
		e := entry{key: key, keyAt: d.pos(p.Key), value: p.Value}
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
// mappings.
func (d *yamlDoc) mergeEntries(v ast.Node, block, field string, depth int) []entry {
	if depth > maxDepth {
		return nil
	}
	r := d.resolve(v, block, field)
	if seq, ok := r.(*ast.SequenceNode); ok {
		var out []entry
		for _, item := range seq.Values {
			out = append(out, d.mergeEntries(item, block, field, depth+1)...)
		}
		return out
	}
	if a, ok := v.(*ast.AliasNode); ok {
		// Guard against "<<: *self" inside the anchored mapping itself.
		anchor := d.anchorFor(a)
		if anchor == nil || d.active[anchor] {
			return nil
		}
		d.active[anchor] = true
		defer delete(d.active, anchor)
	}
	es, ok := d.entries(r, block, field, nil)
	if !ok {
		if r != nil {
			d.problem(d.pos(v), block, field, "a merge key (<<) needs a mapping or a list of mappings, found %s", describe(r))
		}
		return nil
	}
	return es
}

// value converts a node to a plain Go value: map[string]any, []any, int,
// float64, bool, nil or string.
func (d *yamlDoc) value(n ast.Node, block, field string, depth int) any {
	d.nodes++
	if d.nodes > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.problem(d.pos(n), block, field, "value too large (more than %d values after expanding aliases)", maxNodes)
		}
		return nil
	}
	if depth > maxDepth {
		if !d.tooDeep {
			d.tooDeep = true
			d.problem(d.pos(n), block, field, "value nested more than %d levels deep", maxDepth)
		}
		return nil
	}
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.BoolNode:
		return x.Value
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			if v >= math.MinInt && v <= math.MaxInt {
				return int(v)
			}
			return float64(v)
		case uint64:
			if v <= math.MaxInt {
				return int(v)
			}
			return float64(v)
		}
		return x.GetToken().Value
	case *ast.FloatNode:
		return x.Value
	case *ast.InfinityNode:
		return x.Value
	case *ast.NanNode:
		return math.NaN()
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		if x.Value == nil {
			return ""
		}
		return x.Value.Value
	case *ast.AnchorNode:
		d.active[x] = true
		defer delete(d.active, x)
		return d.value(x.Value, block, field, depth+1)
	case *ast.AliasNode:
		a := d.anchorFor(x)
		if a == nil {
			d.problem(d.pos(x), block, field, "unknown alias %s", x.String())
			return nil
		}
		if d.active[a] {
			d.problem(d.pos(x), block, field, "alias %s refers to a value that contains it", x.String())
			return nil
		}
		return d.value(a, block, field, depth+1)
	case *ast.TagNode:
		return d.tagged(x, block, field, depth)
	case *ast.MappingKeyNode:
		return d.value(x.Value, block, field, depth+1)
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.entries(x, block, field, func(e entry, first engine.Pos) {
			d.problem(e.keyAt, block, field, "duplicate key %q (first at line %d)", e.key, first.Line)
		})
		m := make(map[string]any, len(es))
		for _, e := range es {
			m[e.key] = d.value(e.value, block, field, depth+1)
		}
		return m
	case *ast.SequenceNode:
		list := make([]any, 0, len(x.Values))
		for _, item := range x.Values {
			list = append(list, d.value(item, block, field, depth+1))
		}
		return list
	case *ast.MergeKeyNode:
		return "<<"
	default:
		d.problem(d.pos(n), block, field, "unsupported YAML value (%s)", n.Type())
		return nil
	}
}

// tagged applies the standard tags that change a value's type; other tags
// are ignored and the value is taken as written.
func (d *yamlDoc) tagged(t *ast.TagNode, block, field string, depth int) any {
	tag := ""
	if t.Start != nil {
		tag = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(t.Start.Value, "!<"), ">"), "tag:yaml.org,2002:")
		tag = strings.TrimPrefix(tag, "!!")
	}
	switch tag {
	case "str":
		if s, ok := d.scalarText(t.Value, block, field); ok {
			return s
		}
	case "float":
		v := d.value(t.Value, block, field, depth+1)
		if i, ok := v.(int); ok {
			return float64(i)
		}
		return v
	}
	return d.value(t.Value, block, field, depth+1)
}
