// Package schema generates the JSON Schema of native blueprint files
// (*.bp.yaml, *.bp.yml, *.bp.json) from the block types a program knows, so
// that an editor with a YAML or JSON language server completes and checks
// blueprints as they are written: the blueprint's keys, each block's type,
// the fields of that type with their documentation, types and usual values,
// and its outcomes.
//
// The schema helps an editor; bp validate decides. It is meant never to be
// stricter than bp (a blueprint bp accepts is valid against it), and it is
// looser: a
// field's value is checked by its JSON type and its enum, not by the checks
// of its block type (a duration, a size), nor are templates, edges or
// cycles.
package schema

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/bprun/bp/engine"
)

// Types are the block types a schema describes. *blocks.Registry is one:
// a program that registers its own types gets them in its schema.
type Types interface {
	Names() []string
	BlockType(name string) (engine.BlockType, bool)
}

// ID is the schema's $id.
const ID = "https://github.com/bprun/bp/schema/blueprint.schema.json"

// writerPrefix is the prefix of Writer's type names, which native files may
// use too ("blueprints_httprequest").
const writerPrefix = "blueprints_"

// namePattern is what secret and environment variable names look like.
const namePattern = "^[A-Za-z_][A-Za-z0-9_]*$"

// wholeTemplate matches a value that is one @{...}, which keeps the type
// of what it names: "timeout: @{payload.t}" may be a number.
const wholeTemplate = `^@\{[\s\S]*\}$`

// A YAML scalar is text to bp wherever it reads text (key: 2024 is the key
// "2024").
var (
	scalar       = []any{"string", "number", "boolean"}
	scalarOrNull = []any{"string", "number", "boolean", "null"}
)

// Generate returns the JSON Schema (draft 2020-12) of blueprint files that
// use types, indented, with a final newline. The same types give the same
// bytes.
func Generate(types Types) ([]byte, error) {
	defs := map[string]any{
		"targets": map[string]any{
			"description": "the block, or blocks, that run next on this outcome",
			"anyOf": []any{
				map[string]any{"$ref": "#/$defs/blockId"},
				map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/blockId"}},
			},
		},
		"blockId": map[string]any{"type": scalar, "minLength": 1},
		"names": map[string]any{
			"type":  []any{"array", "null"},
			"items": map[string]any{"type": "string", "pattern": namePattern},
		},
	}
	var names, prefixed []any
	var variants []any
	for _, name := range types.Names() {
		bt, ok := types.BlockType(name)
		if !ok {
			continue
		}
		spec := bt.Spec()
		names = append(names, name)
		prefixed = append(prefixed, regexp.QuoteMeta(name))
		defs["type."+name] = typeSchema(spec)
		variants = append(variants, map[string]any{
			"if": map[string]any{
				"required":   []any{"type"},
				"properties": map[string]any{"type": map[string]any{"enum": []any{name, writerPrefix + name}}},
			},
			"then": map[string]any{"$ref": "#/$defs/type." + name},
		})
	}
	typeProp := map[string]any{
		"description": "the block's type",
		"anyOf": []any{
			map[string]any{"enum": names},
			map[string]any{"type": "string", "pattern": "^" + writerPrefix + "(?:" + joinAny(prefixed, "|") + ")$"},
		},
	}
	defs["block"] = map[string]any{
		"type":     "object",
		"required": []any{"type"},
		"properties": map[string]any{
			"type":        typeProp,
			"alias":       map[string]any{"type": scalarOrNull, "description": "a name for the block in logs, instead of its id"},
			"description": map[string]any{"type": scalarOrNull, "description": "what the block is for (documentation only)"},
			"fields":      map[string]any{"type": []any{"object", "null"}, "description": "the block's fields: templates, evaluated when it runs"},
			"outs":        map[string]any{"type": []any{"object", "null"}, "description": "outcome: the block (or list of blocks) that runs next", "additionalProperties": map[string]any{"$ref": "#/$defs/targets"}},
		},
		"additionalProperties": false,
		"allOf":                variants,
	}
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         ID,
		"title":       "bp blueprint",
		"description": "A bp blueprint: a graph of blocks, run from a trigger, each block's outcome leading to the next.",
		"type":        "object",
		"required":    []any{"blocks"},
		"properties": map[string]any{
			"key":         map[string]any{"type": scalar, "minLength": 1, "description": "the blueprint's key (default: the file name without .bp.yaml)"},
			"description": map[string]any{"type": scalarOrNull, "description": "what the blueprint does"},
			"vault":       withDescription(ref("names"), "the only secrets the blueprint may read, as @{vault.NAME}; without this key, every secret"),
			"env":         withDescription(ref("names"), "environment variables the blueprint may read, as @{$NAME}; their values are masked like secrets"),
			"blocks": map[string]any{
				"type":                 []any{"object", "null"},
				"description":          "block id: block",
				"additionalProperties": ref("block"),
			},
		},
		"additionalProperties": false,
		"$defs":                defs,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// typeSchema is what a block of the type may hold: its fields and its
// outcomes.
func typeSchema(spec *engine.TypeSpec) map[string]any {
	props := map[string]any{}
	var required []any
	for i := range spec.Fields {
		f := &spec.Fields[i]
		props[f.Name] = fieldSchema(f)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	fields := map[string]any{
		"type":                 []any{"object", "null"},
		"properties":           props,
		"additionalProperties": false,
	}
	if required != nil {
		fields["required"] = required
	}
	// Outcomes as properties, not propertyNames: editors complete them.
	outs := map[string]any{}
	if !spec.AnyOutcome {
		props := map[string]any{}
		for _, o := range spec.Outcomes {
			props[o] = ref("targets")
		}
		outs["properties"] = props
		outs["additionalProperties"] = false
	}
	s := map[string]any{
		"properties": map[string]any{
			"type":   map[string]any{"description": describeType(spec)},
			"fields": fields,
			"outs":   outs,
		},
	}
	if required != nil {
		s["required"] = []any{"fields"}
	}
	return s
}

// describeType is a type's documentation, with its outcomes.
func describeType(spec *engine.TypeSpec) string {
	doc := spec.Doc
	if len(spec.Outcomes) > 0 {
		doc = strings.TrimSpace(doc + " Outcomes: " + strings.Join(spec.Outcomes, ", ") + ".")
	}
	return doc
}

// fieldSchema is what a field's value may be: its JSON types (null is
// always allowed: an empty field), its enum, and templates where they can
// stand for a value of another type.
func fieldSchema(f *engine.FieldSpec) map[string]any {
	var types []any
	for _, t := range []struct {
		bit  engine.FieldType
		name string
	}{{engine.TypeString, "string"}, {engine.TypeNumber, "number"}, {engine.TypeBool, "boolean"}, {engine.TypeList, "array"}, {engine.TypeObject, "object"}} {
		if f.Type&t.bit != 0 {
			types = append(types, t.name)
		}
	}
	s := map[string]any{}
	if doc := f.Doc; doc != "" {
		s["description"] = doc
	}
	if f.Type == 0 || f.Type == engine.TypeAny {
		return s // anything
	}
	takesText := f.Type&engine.TypeString != 0
	var alts []any
	switch {
	case len(f.Enum) > 0 && takesText && !f.EnumOpen:
		// Only its values, or text with a template in it.
		enum := make([]any, len(f.Enum))
		for i, v := range f.Enum {
			enum[i] = v
		}
		alts = append(alts, map[string]any{"enum": enum})
		types = without(types, "string")
		if f.Kind != engine.FieldRaw {
			alts = append(alts, map[string]any{"type": "string", "pattern": `@\{`})
		}
	case len(f.Enum) > 0:
		enum := make([]any, len(f.Enum))
		for i, v := range f.Enum {
			enum[i] = v
		}
		alts = append(alts, map[string]any{"enum": enum})
	}
	switch {
	case takesText || f.Kind == engine.FieldRaw:
	case f.Kind == engine.FieldJSON:
		// Text is JSON text, or a template that makes it.
		types = append(types, "string")
	default:
		alts = append(alts, map[string]any{"type": "string", "pattern": wholeTemplate})
	}
	types = append(types, "null")
	if len(alts) == 0 {
		s["type"] = types
		return s
	}
	s["anyOf"] = append([]any{map[string]any{"type": types}}, alts...)
	return s
}

func ref(def string) map[string]any { return map[string]any{"$ref": "#/$defs/" + def} }

func withDescription(s map[string]any, doc string) map[string]any {
	s["description"] = doc
	return s
}

func without(list []any, v any) []any {
	out := list[:0:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func joinAny(list []any, sep string) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = v.(string)
	}
	return strings.Join(s, sep)
}
