package engine

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Program is a blueprint compiled against a set of block types: validated,
// with every template parsed and every expression compiled, ready to run
// many times, concurrently.
type Program struct {
	bp    *Blueprint
	nodes []*node
	byID  map[string]int

	warmers []Warmer   // the block types that get ready ahead (see Warmer)
	enders  []RunEnder // the block types told when a run ends

	regionsMu sync.Mutex
	regions   map[string]*region // by start key: "" (default), "trigger:ID", "loop:ID"
}

// node is one compiled block.
type node struct {
	idx    int
	spec   *BlockSpec
	typ    BlockType
	ts     *TypeSpec
	fields map[string]*fieldValue
	outs   []edgeTo
	ins    int // number of incoming edges
}

type edgeTo struct {
	outcome string
	to      int
}

// fieldValue is a compiled field: a template, or a structure of them.
type fieldValue struct {
	kind FieldKind
	tmpl *Template              // strings
	m    map[string]*fieldValue // maps
	keys []string               // map keys in a stable order
	list []*fieldValue          // lists
	lit  any                    // other constants
	raw  any                    // the value as written
}

// Blueprint is the blueprint the program was compiled from.
func (p *Program) Blueprint() *Blueprint { return p.bp }

// HasBlock reports whether the blueprint has a block with this id.
func (p *Program) HasBlock(id string) bool {
	_, ok := p.byID[NormName(id)]
	return ok
}

// Key is the blueprint's key.
func (p *Program) Key() string { return p.bp.Key }

// Compile validates a blueprint and compiles its templates. Every problem
// found is reported at once, in a *ValidationError.
func Compile(bp *Blueprint, types TypeResolver) (*Program, error) {
	p := &Program{bp: bp, byID: make(map[string]int, len(bp.Blocks)), regions: map[string]*region{}}
	var problems []*Problem
	problems = append(problems, bp.LoadErrors...)
	add := func(pos Pos, block, field, format string, args ...any) {
		problems = append(problems, &Problem{Pos: pos, Block: block, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	opts := compileOptions{loose: bp.Format == FormatWriter, env: map[string]bool{}}
	for _, name := range bp.Env {
		opts.env[name] = true
	}
	for _, name := range bp.Vault {
		if !validSecretName(name) {
			add(Pos{File: bp.Source}, "", "vault", "%s is not a valid secret name", Quote(name))
		}
	}
	if err := CheckName(bp.Key); err != nil {
		add(Pos{File: bp.Source}, "", "key", "the blueprint key %s is not readable text: %v", Quote(bp.Key), err)
	}

	ids := NewNameChecker()
	for _, spec := range bp.Blocks {
		if err := CheckName(spec.ID); err != nil {
			add(spec.Pos, spec.ID, "", "the block id is not readable text: %v", err)
		}
		if earlier, same := ids.Add(spec.ID); earlier != "" {
			at := p.nodes[p.byID[NormName(earlier)]].spec.Pos
			switch {
			case same && earlier == spec.ID:
				add(spec.Pos, spec.ID, "", "duplicate block id")
				continue
			case same:
				add(spec.Pos, spec.ID, "", "duplicate block id: the same as %s (at %s) once Unicode-normalised", Quote(earlier), at)
				continue
			default:
				add(spec.Pos, spec.ID, "", "the block id looks like %s (at %s) but is written with other characters; rename one", Quote(earlier), at)
			}
		}
		n := &node{idx: len(p.nodes), spec: spec, fields: map[string]*fieldValue{}}
		p.byID[NormName(spec.ID)] = n.idx
		p.nodes = append(p.nodes, n)
		typ, ok := types.BlockType(spec.Type)
		if !ok {
			name := spec.Type
			if bp.Format == FormatWriter {
				name = "blueprints_" + name
			}
			if spec.Type == "" {
				add(spec.Pos, spec.ID, "type", "missing block type")
			} else {
				add(spec.Pos, spec.ID, "", "type %s is not supported", Short(name))
			}
			continue
		}
		n.typ, n.ts = typ, typ.Spec()
		problems = append(problems, compileFields(n, bp, opts)...)
	}

	for _, n := range p.nodes {
		for _, e := range n.spec.Outs {
			pos := e.Pos
			if pos.File == "" {
				pos = n.spec.Pos
			}
			to, ok := p.byID[NormName(e.To)]
			if !ok {
				add(pos, n.spec.ID, "outs", "edge %s leads to block %s, which does not exist", Short(e.Outcome), Quote(e.To))
				continue
			}
			if n.ts != nil && !n.ts.HasOutcome(e.Outcome) {
				add(pos, n.spec.ID, "outs", "type %s has no outcome %s (it has %s)", n.ts.Name, Quote(e.Outcome), strings.Join(n.ts.Outcomes, ", "))
				continue
			}
			n.outs = append(n.outs, edgeTo{outcome: e.Outcome, to: to})
			p.nodes[to].ins++
		}
	}
	if cycle := p.findCycle(); cycle != nil {
		add(p.nodes[cycle[0]].spec.Pos, "", "", "cycle: %s (loops are foreach blocks)", p.cycleText(cycle))
	}
	if len(problems) > 0 {
		seen := map[string]bool{}
		unique := problems[:0]
		for _, pr := range problems {
			if pr.Pos.File == "" {
				pr.Pos.File = bp.Source
			}
			if text := pr.Error(); !seen[text] {
				seen[text] = true
				unique = append(unique, pr)
			}
		}
		return nil, &ValidationError{Blueprint: bp.Key, Problems: unique}
	}
	p.warmers = typesOf[Warmer](p.nodes)
	p.enders = typesOf[RunEnder](p.nodes)
	return p, nil
}

// typesOf lists the block types of nodes that implement T (Warmer,
// RunEnder), each pointer once (another kind of type is listed per block:
// its methods must be cheap after the first call anyway).
func typesOf[T any](nodes []*node) []T {
	var out []T
	seen := map[BlockType]bool{}
	for _, n := range nodes {
		t, ok := n.typ.(T)
		if !ok {
			continue
		}
		if reflect.TypeOf(n.typ).Kind() == reflect.Pointer {
			if seen[n.typ] {
				continue
			}
			seen[n.typ] = true
		}
		out = append(out, t)
	}
	return out
}

// compileFields checks a block's fields against its type and compiles them.
func compileFields(n *node, bp *Blueprint, opts compileOptions) []*Problem {
	var problems []*Problem
	spec := n.spec
	fieldPos := func(name string) Pos {
		if pos, ok := spec.FieldPos[name]; ok {
			return pos
		}
		return spec.Pos
	}
	names := make([]string, 0, len(spec.Fields))
	for name := range spec.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fs := n.ts.Field(name)
		if fs == nil {
			// Writer's editor stores UI-only content (refComponentId, ...)
			// beside the fields; a Writer file must load unchanged.
			if bp.Format != FormatWriter {
				problems = append(problems, &Problem{Pos: fieldPos(name), Block: spec.ID, Field: name, Message: fmt.Sprintf("unknown field for type %s (fields: %s)", n.ts.Name, fieldNames(n.ts))})
			}
			continue
		}
		fv, err := compileValue(spec.Fields[name], fs.Kind, opts)
		if err != nil {
			pos := fieldPos(name)
			msg := err.Error()
			if te, ok := err.(*TemplateError); ok && pos.Line > 0 {
				// Point at the template itself when the field is on one line.
				if te.Line == 1 && !strings.Contains(fmt.Sprint(spec.Fields[name]), "\n") {
					pos.Column += te.Column - 1
				}
			}
			problems = append(problems, &Problem{Pos: pos, Block: spec.ID, Field: name, Message: msg})
			continue
		}
		if err := checkConstant(fs, spec.Fields[name]); err != nil {
			problems = append(problems, &Problem{Pos: fieldPos(name), Block: spec.ID, Field: name, Message: err.Error()})
		}
		n.fields[name] = fv
	}
	for _, fs := range n.ts.Fields {
		if !fs.Required {
			continue
		}
		v, ok := spec.Fields[fs.Name]
		if !ok || v == nil || v == "" {
			problems = append(problems, &Problem{Pos: spec.Pos, Block: spec.ID, Field: fs.Name, Message: "required field is missing"})
		}
	}
	return problems
}

func fieldNames(ts *TypeSpec) string {
	names := make([]string, len(ts.Fields))
	for i, f := range ts.Fields {
		names[i] = f.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// checkConstant refuses at load what every run would refuse: a value of
// a type the field does not take, or a constant its Check refuses. Values
// that hold templates are left to the run, except that text with a
// template around other text is text.
func checkConstant(fs *FieldSpec, v any) error {
	if v == nil || v == "" {
		return nil
	}
	constant := isConstant(v, fs.Kind)
	// JSON text is read for the fields that cannot take text (a field
	// that can, parsejson's plainText, may well be given text to fail on).
	if s, ok := v.(string); ok && fs.Kind == FieldJSON && fs.Type != 0 && fs.Type&TypeString == 0 {
		if !constant {
			return nil // what the templates insert decides
		}
		parsed, err := DecodeJSON([]byte(s))
		if err != nil {
			return fmt.Errorf("not valid JSON: %v", err)
		}
		v = parsed
	}
	if s, ok := v.(string); ok && !constant && isWholeTemplate(s) {
		return nil // "@{x}" keeps the type of x
	}
	if t := typeOf(v); fs.Type != 0 && t != 0 && fs.Type&t == 0 {
		if fs.Check != nil {
			if err := fs.Check(v); err != nil {
				return err // the run's own words
			}
		}
		return fmt.Errorf("expected %s, found %s", fs.Type, t)
	}
	if constant && fs.Check != nil {
		return fs.Check(v)
	}
	return nil
}

// isWholeTemplate reports whether s is exactly one @{...}.
func isWholeTemplate(s string) bool {
	return strings.HasPrefix(s, "@{") && strings.HasSuffix(s, "}") && strings.Count(s, "@{") == 1
}

// isConstant reports whether a field's value is the same in every run: a
// scalar, text without a template (a raw field's text is never one), or a
// list or object of those.
func isConstant(v any, kind FieldKind) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != "" && (kind == FieldRaw || !strings.Contains(t, "@{"))
	case map[string]any:
		for k, x := range t {
			if strings.Contains(k, "@{") || x != nil && x != "" && !isConstant(x, kind) {
				return false
			}
		}
	case []any:
		for _, x := range t {
			if x != nil && x != "" && !isConstant(x, kind) {
				return false
			}
		}
	}
	return true
}

// compileValue compiles a field's value. Strings are templates; maps and
// lists hold templates, each string a field of its own.
func compileValue(v any, kind FieldKind, opts compileOptions) (*fieldValue, error) {
	fv := &fieldValue{kind: kind, raw: v}
	switch t := v.(type) {
	case string:
		if kind == FieldRaw {
			fv.lit = t
			return fv, nil
		}
		if kind == FieldExpr {
			var ev evaluator
			var err error
			if strings.Contains(t, "@{") {
				ev, err = compileTemplatedExpr(t, opts)
			} else {
				ev, err = compileExpr(t, opts)
			}
			if err != nil {
				if te, ok := err.(*TemplateError); ok {
					return nil, te
				}
				return nil, &TemplateError{Line: 1, Column: 1, Message: err.Error()}
			}
			fv.tmpl = &Template{src: t, parts: []part{{ev: ev, src: t}}}
			return fv, nil
		}
		tmpl, err := parseTemplate(t, opts)
		if err != nil {
			return nil, err
		}
		fv.tmpl = tmpl
	case map[string]any:
		// Each string of a structured value is a field of its own: it is
		// not JSON text, so nothing inserted into it is JSON-escaped.
		if kind == FieldJSON {
			kind = FieldText
		}
		fv.m = make(map[string]*fieldValue, len(t))
		for k, x := range t {
			c, err := compileValue(x, kind, opts)
			if err != nil {
				return nil, err
			}
			fv.m[k] = c
			fv.keys = append(fv.keys, k)
		}
		sort.Strings(fv.keys)
	case []any:
		if kind == FieldJSON {
			kind = FieldText
		}
		fv.list = make([]*fieldValue, 0, len(t)) // an empty list stays a list
		for _, x := range t {
			c, err := compileValue(x, kind, opts)
			if err != nil {
				return nil, err
			}
			fv.list = append(fv.list, c)
		}
	default:
		fv.lit = v
	}
	return fv, nil
}

// eval evaluates a compiled field value. jsonText inserts values into
// the field's text JSON-escaped.
func (fv *fieldValue) eval(s *scope, jsonText bool) (any, error) {
	switch {
	case fv.tmpl != nil:
		return fv.tmpl.execute(s, jsonText)
	case fv.m != nil:
		out := make(map[string]any, len(fv.m))
		for _, k := range fv.keys {
			v, err := fv.m[k].eval(s, false)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case fv.list != nil:
		out := make([]any, len(fv.list))
		for i, c := range fv.list {
			v, err := c.eval(s, false)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return fv.lit, nil
}

// evalBoth is eval with and without jsonText, evaluating each value once.
func (fv *fieldValue) evalBoth(s *scope) (escaped, plain any, err error) {
	if fv.tmpl != nil {
		return fv.tmpl.executeBoth(s)
	}
	v, err := fv.eval(s, false)
	return v, v, err
}

// findCycle returns the blocks of one cycle, or nil.
func (p *Program) findCycle() []int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(p.nodes))
	parent := make([]int, len(p.nodes))
	type frame struct{ n, next int }
	for start := range p.nodes {
		if color[start] != white {
			continue
		}
		stack := []frame{{start, 0}}
		color[start] = grey
		parent[start] = -1
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			n := p.nodes[top.n]
			if top.next == len(n.outs) {
				color[top.n] = black
				stack = stack[:len(stack)-1]
				continue
			}
			to := n.outs[top.next].to
			top.next++
			switch color[to] {
			case white:
				color[to] = grey
				parent[to] = top.n
				stack = append(stack, frame{to, 0})
			case grey:
				cycle := []int{to}
				for x := top.n; x != to; x = parent[x] {
					cycle = append(cycle, x)
				}
				// Report in edge order, starting at the first block.
				for i, j := 1, len(cycle)-1; i < j; i, j = i+1, j-1 {
					cycle[i], cycle[j] = cycle[j], cycle[i]
				}
				return cycle
			}
		}
	}
	return nil
}

func (p *Program) cycleText(cycle []int) string {
	ids := make([]string, 0, len(cycle)+1)
	for _, i := range cycle {
		ids = append(ids, Short(p.nodes[i].spec.ID))
	}
	ids = append(ids, Short(p.nodes[cycle[0]].spec.ID))
	return strings.Join(ids, " -> ")
}
