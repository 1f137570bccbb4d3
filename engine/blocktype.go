package engine

import (
	"context"
	"errors"
	"strings"
	"time"
)

// BlockType is one kind of block, as a database/sql driver is one kind of
// database: the engine knows only this interface, and package blocks (or an
// embedding program) implements it. A BlockType is shared by every run of an
// engine, so Run must be safe for concurrent use.
type BlockType interface {
	// Spec describes the type's fields and outcomes. The engine reads it
	// once, when a blueprint is compiled.
	Spec() *TypeSpec
	// Run executes one block. Fields are read through the Call, which
	// evaluates their templates against the run's data. Run must return
	// promptly once ctx is done.
	Run(ctx context.Context, call *Call) Result
}

// Warmer is a BlockType that can get ready ahead of its first block (start
// an interpreter, say), so that the blocks before it hide the wait. A run
// calls Warm in the background as it starts, once for each such type its
// blueprint uses, with the run's context and the blueprint (how many of
// its blocks are of the type may say how ready to get). Warm returns
// nothing: Run must work whether or not Warm was called or has finished,
// and report its own errors.
type Warmer interface {
	Warm(ctx context.Context, bp *Blueprint)
}

// RunEnder is a BlockType that keeps something for the blocks of a run (a
// process its blocks share, say) and lets it go when the run ends. A run
// calls EndRun once it has ended, for each such type its blueprint uses,
// with the run's id (Call.RunID); the runs of blueprints it called share
// that id. A type must not count on EndRun alone: a blueprint that uses it
// only through runblueprint does not list it.
type RunEnder interface {
	EndRun(runID string)
}

// TypeResolver finds block types by name (without Writer's "blueprints_"
// prefix).
type TypeResolver interface {
	BlockType(name string) (BlockType, bool)
}

// FieldKind says how a field's value is evaluated.
type FieldKind int

const (
	// FieldText is a template. A field that is exactly one @{...} keeps
	// the type of its value; inside text, non-strings are JSON-encoded.
	FieldText FieldKind = iota
	// FieldJSON is a template whose insertions are JSON-escaped, so that
	// a string value placed between quotes stays valid JSON. Call.JSON
	// parses the text that results.
	FieldJSON
	// FieldExpr is an expr-lang expression evaluated against the run's
	// data. It may also contain @{...} templates.
	FieldExpr
	// FieldRaw is taken as written, never evaluated.
	FieldRaw
)

// FieldType is the set of JSON types a field's value may have. A value of
// another type written as a constant ("timeout: [1]") is a validation
// problem, as the run would refuse it. For a FieldJSON field that does not
// take text, text without templates is JSON, and its type is that of the
// value it holds.
type FieldType uint8

const (
	TypeString FieldType = 1 << iota
	TypeNumber
	TypeBool
	TypeList
	TypeObject

	TypeScalar = TypeString | TypeNumber | TypeBool // written as text
	TypeAny    = TypeScalar | TypeList | TypeObject
)

// String names the types for messages: "text or a number".
func (t FieldType) String() string {
	var names []string
	for _, n := range []struct {
		t    FieldType
		name string
	}{{TypeString, "text"}, {TypeNumber, "a number"}, {TypeBool, "true or false"}, {TypeList, "a list"}, {TypeObject, "an object"}} {
		if t&n.t != 0 {
			names = append(names, n.name)
		}
	}
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// typeOf is the FieldType of a plain value, 0 for null.
func typeOf(v any) FieldType {
	switch v.(type) {
	case nil:
		return 0
	case string:
		return TypeString
	case bool:
		return TypeBool
	case []any:
		return TypeList
	case map[string]any:
		return TypeObject
	}
	return TypeNumber
}

// FieldSpec describes one field of a block type.
type FieldSpec struct {
	Name     string
	Kind     FieldKind
	Required bool
	Doc      string
	// Type is what the field's value may be; every built-in field says.
	// Zero means any.
	Type FieldType
	// Enum lists the values of a text field that takes few (log types,
	// body types) or usually one of a few (HTTP methods): editors offer
	// them (bp schema). Check, not Enum, decides what validation accepts,
	// and should accept each of them.
	Enum []string
	// EnumOpen says other values than Enum's may do (any HTTP method):
	// editors offer Enum but do not flag the others.
	EnumOpen bool
	// Check, when set, checks a value written without templates (a
	// constant: a number, text without @{, or a list or object with no
	// template inside; for a FieldJSON field, the value its JSON text
	// holds), at load: validation then reports what every run would fail
	// on. It should say what the run says (CheckDuration, CheckInt,
	// CheckBool do).
	Check func(value any) error
}

// TypeSpec describes a block type for validation and documentation.
type TypeSpec struct {
	Name     string
	Doc      string
	Fields   []FieldSpec
	Outcomes []string
	// ErrorOutcomes are the outcomes that mean failure: without an edge for
	// them, the run fails. Defaults to {"error"} when nil.
	ErrorOutcomes []string
	// AnyOutcome lets blueprints use outcome names not in Outcomes (for
	// types whose outcomes depend on their fields).
	AnyOutcome bool
	// Trigger marks the types a run can start at.
	Trigger bool
	// Loop names the outcome whose branch runs once per item (foreach).
	// The engine excludes that branch from the surrounding run.
	Loop string
	// Return marks the type whose success ends the run with its value
	// (returnvalue).
	Return bool
	// DefaultTimeout bounds each block of the type unless its timeout
	// field says otherwise; zero means no bound.
	DefaultTimeout time.Duration
}

// Field returns the spec of a field, or nil.
func (s *TypeSpec) Field(name string) *FieldSpec {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// HasOutcome reports whether outcome is one of the type's outcomes.
func (s *TypeSpec) HasOutcome(outcome string) bool {
	if s.AnyOutcome {
		return true
	}
	for _, o := range s.Outcomes {
		if o == outcome {
			return true
		}
	}
	return false
}

// IsErrorOutcome reports whether outcome means the block failed.
func (s *TypeSpec) IsErrorOutcome(outcome string) bool {
	if s.ErrorOutcomes == nil {
		return outcome == "error"
	}
	for _, o := range s.ErrorOutcomes {
		if o == outcome {
			return true
		}
	}
	return false
}

// Result is what a block's Run returns.
type Result struct {
	Outcome string
	Value   any
	// Err explains an error outcome; its text becomes @{message} for the
	// blocks that handle it.
	Err error
}

// Success is the usual successful result.
func Success(v any) Result { return Result{Outcome: "success", Value: v} }

// Failure is the usual failed result, with outcome "error".
func Failure(err error) Result { return Result{Outcome: "error", Err: err} }

// Outcome is a result with the given outcome and value.
func Outcome(outcome string, v any) Result { return Result{Outcome: outcome, Value: v} }

// ErrNotFound is wrapped by errors about a missing secret, blueprint or name.
var ErrNotFound = errors.New("not found")
