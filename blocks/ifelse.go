package blocks

import (
	"context"

	"github.com/bprun/bp/engine"
)

// IfElse branches on an expr-lang expression.
type IfElse struct{}

var ifElseSpec = &engine.TypeSpec{
	Name: "ifelse", Doc: "Branches on an expression.",
	Fields: []engine.FieldSpec{
		{Name: "expression", Kind: engine.FieldExpr, Type: engine.TypeScalar, Required: true, Doc: "expr-lang expression"},
	},
	Outcomes: []string{"true", "false", "error"},
}

func (IfElse) Spec() *engine.TypeSpec { return ifElseSpec }

func (IfElse) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, err := c.Field("expression")
	if err != nil {
		return engine.Failure(err)
	}
	if truthy(v) {
		return engine.Outcome("true", true)
	}
	return engine.Outcome("false", false)
}

// truthy is the truth of a value as Writer (Python) sees it.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != "" && t != "false" && t != "False"
	case float64:
		return t != 0
	case int:
		return t != 0
	case int64:
		return t != 0
	case map[string]any:
		return len(t) > 0
	case []any:
		return len(t) > 0
	}
	return true
}
