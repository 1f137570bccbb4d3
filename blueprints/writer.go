package blueprints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/bprun/bp/engine"
)

// Writer Agent Builder files. A .wf folder holds one JSON object
// per line ("component") in components-*.jsonl files; the blueprint ones are
// components-blueprints_root.jsonl and one
// components-blueprints_blueprint-N-ID.jsonl per blueprint. We load them
// unchanged: a blueprint is the component of type blueprints_blueprint, its
// blocks are the components whose parentId is its id.

const (
	writerPrefix        = "components-blueprints_"
	writerSuffix        = ".jsonl"
	writerBlueprintType = "blueprints_blueprint"
	writerRootType      = "blueprints_root"
)

// IsWriterFile reports whether a file name is one of Writer's blueprint
// component files.
func IsWriterFile(name string) bool {
	base := path.Base(toSlash(name))
	return strings.HasPrefix(base, writerPrefix) && strings.HasSuffix(base, writerSuffix)
}

// component is one line of a Writer file, reduced to what a blueprint
// needs. UI-only keys (handlers, position, x, y, visible, isCodeManaged)
// are not read.
type component struct {
	id, typ, parent string
	content         map[string]any
	outs            []engine.Edge
	pos             engine.Pos
}

// writerFile is one parsed file: its components in line order and the
// problems of lines that could not be read (or only partly).
type writerFile struct {
	name       string
	components []*component
	problems   []lineProblem
}

// lineProblem is a problem of one line, with the parent id when the line
// got far enough to say which blueprint it belongs to.
type lineProblem struct {
	owner string // id of the blueprint or of the parent, "" if unknown
	p     *engine.Problem
}

// ParseWriter reads one Writer file and assembles the blueprints in it.
// Blocks are only found in the same file as their blueprint, as Writer
// writes them; use Load on the folder to assemble across files. Problems of
// a blueprint are in its LoadErrors; problems that belong to no blueprint
// (a malformed line in a file without one, a block whose blueprint is
// missing) are returned as the error, alongside the blueprints that did load.
func ParseWriter(name string, data []byte) ([]*engine.Blueprint, error) {
	return Limits{}.ParseWriter(name, data)
}

// ParseWriter is the package's ParseWriter within these limits.
func (l Limits) ParseWriter(name string, data []byte) ([]*engine.Blueprint, error) {
	wf, err := l.parseWriterFile(name, data)
	if err != nil {
		return nil, err
	}
	return assembleWriter([]*writerFile{wf})
}

// parseWriterFile splits a file into lines and reads each component. A
// file over the limits gives an error and nothing else.
func (l Limits) parseWriterFile(name string, data []byte) (*writerFile, error) {
	if int64(len(data)) > l.maxFileBytes() {
		return nil, tooLarge(name, int64(len(data)), l.maxFileBytes())
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if _, err := checkShape(name, data); err != nil {
		return nil, err // JSON is YAML: its nesting and size are measured alike
	}
	wf := &writerFile{name: name}
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		pos := engine.Pos{File: name, Line: i + 1}
		c, probs := parseComponent(line, pos)
		if c != nil {
			wf.components = append(wf.components, c)
		}
		for _, p := range probs {
			owner := ""
			if c != nil {
				owner = c.parent
				if c.typ == writerBlueprintType {
					owner = c.id
				}
			}
			wf.problems = append(wf.problems, lineProblem{owner: owner, p: p})
		}
	}
	return wf, nil
}

// parseComponent reads one line. It returns nil when the line has no usable
// id and type, and problems for anything it had to drop.
func parseComponent(line []byte, pos engine.Pos) (*component, []*engine.Problem) {
	var probs []*engine.Problem
	bad := func(block, field, format string, args ...any) {
		probs = append(probs, &engine.Problem{Pos: pos, Block: block, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		bad("", "", "not a JSON object: %v", err)
		return nil, probs
	}
	c := &component{pos: pos, content: map[string]any{}}
	str := func(key string) (string, bool) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", false
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad(c.id, key, "expected a string, found %s", jsonKind(v))
			return "", false
		}
		return s, true
	}
	c.id, _ = str("id")
	c.typ, _ = str("type")
	c.parent, _ = str("parentId")
	if c.id == "" || c.typ == "" {
		bad(c.id, "", "a component needs an id and a type")
		return nil, probs
	}
	if v, ok := raw["content"]; ok && string(v) != "null" {
		m, err := decodeObject(v)
		if err != nil {
			bad(c.id, "content", "expected an object, found %s", jsonKind(v))
		}
		for k, val := range m {
			c.content[k] = val
		}
	}
	if v, ok := raw["outs"]; ok && string(v) != "null" {
		var outs []json.RawMessage
		if err := json.Unmarshal(v, &outs); err != nil {
			bad(c.id, "outs", "expected a list of {outId, toNodeId}, found %s", jsonKind(v))
		}
		for i, o := range outs {
			var e struct {
				OutID    *string `json:"outId"`
				ToNodeID *string `json:"toNodeId"`
			}
			if err := json.Unmarshal(o, &e); err != nil || e.OutID == nil || e.ToNodeID == nil || *e.OutID == "" || *e.ToNodeID == "" {
				bad(c.id, fmt.Sprintf("outs[%d]", i), "expected {\"outId\": OUTCOME, \"toNodeId\": BLOCK ID}, found %s", clip(string(o)))
				continue
			}
			c.outs = append(c.outs, engine.Edge{Outcome: *e.OutID, To: *e.ToNodeID, Pos: pos})
		}
	}
	return c, probs
}

// decodeObject decodes a JSON object with numbers as int or float64.
// Writer writes only strings, but people edit files; other values are kept.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range m {
		m[k] = plainJSON(v)
	}
	return m, nil
}

// plainJSON turns json.Number into int or float64, as the native loader
// gives numbers.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && int64(int(i)) == i {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainJSON(e)
		}
	}
	return v
}

func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func clip(s string) string { return engine.Short(s) }

// assembleWriter builds the blueprints of one Writer folder (or one file)
// from its parsed files, in file order. The error joins the problems that
// belong to no blueprint.
func assembleWriter(files []*writerFile) ([]*engine.Blueprint, error) {
	var bps []*engine.Blueprint
	byID := map[string]*engine.Blueprint{}
	bpAt := map[string]engine.Pos{}
	firstInFile := map[string]*engine.Blueprint{}
	var loose []error
	for _, wf := range files {
		for _, c := range wf.components {
			if c.typ != writerBlueprintType {
				continue
			}
			if prev, dup := byID[c.id]; dup {
				prev.LoadErrors = append(prev.LoadErrors, &engine.Problem{Pos: c.pos, Message: fmt.Sprintf("duplicate blueprint id %s (first at %s); this one is ignored", engine.Quote(c.id), bpAt[c.id])})
				continue
			}
			bp := &engine.Blueprint{Key: c.id, Format: engine.FormatWriter, Source: wf.name}
			if k, ok := c.content["key"].(string); ok && k != "" {
				bp.Key = k
			}
			if d, ok := c.content["description"].(string); ok {
				bp.Description = d
			}
			byID[c.id] = bp
			bpAt[c.id] = c.pos
			bps = append(bps, bp)
			if firstInFile[wf.name] == nil {
				firstInFile[wf.name] = bp
			}
		}
	}
	blockAt := map[*engine.Blueprint]map[string]engine.Pos{}
	for _, wf := range files {
		for _, c := range wf.components {
			if c.typ == writerBlueprintType || c.typ == writerRootType {
				continue
			}
			bp := byID[c.parent]
			if bp == nil {
				loose = append(loose, &engine.Problem{Pos: c.pos, Block: c.id, Message: fmt.Sprintf("component of type %s belongs to no blueprint (parentId %s is not a blueprint in this folder)", engine.Short(c.typ), engine.Quote(c.parent))})
				continue
			}
			seen := blockAt[bp]
			if seen == nil {
				seen = map[string]engine.Pos{}
				blockAt[bp] = seen
			}
			if first, dup := seen[c.id]; dup {
				bp.LoadErrors = append(bp.LoadErrors, &engine.Problem{Pos: c.pos, Block: c.id, Message: fmt.Sprintf("duplicate block id %s (first at %s); this one is ignored", engine.Quote(c.id), first)})
				continue
			}
			seen[c.id] = c.pos
			bp.Blocks = append(bp.Blocks, writerBlock(c))
		}
		for _, lp := range wf.problems {
			switch {
			case byID[lp.owner] != nil:
				byID[lp.owner].LoadErrors = append(byID[lp.owner].LoadErrors, lp.p)
			case firstInFile[wf.name] != nil:
				firstInFile[wf.name].LoadErrors = append(firstInFile[wf.name].LoadErrors, lp.p)
			default:
				loose = append(loose, lp.p)
			}
		}
	}
	return bps, errors.Join(loose...)
}

// writerBlock makes a block of a component: every content value is a field
// (a template, kept as the string Writer wrote), except alias, which is the
// block's display name.
func writerBlock(c *component) *engine.BlockSpec {
	spec := &engine.BlockSpec{
		ID:       c.id,
		Type:     blockType(c.typ),
		Fields:   make(map[string]any, len(c.content)),
		FieldPos: make(map[string]engine.Pos, len(c.content)),
		Outs:     c.outs,
		Pos:      c.pos,
	}
	for k, v := range c.content {
		if k == "alias" {
			if s, ok := v.(string); ok {
				spec.Alias = s
				continue
			}
		}
		spec.Fields[k] = v
		spec.FieldPos[k] = c.pos
	}
	return spec
}
