package blocks

import (
	"context"
	"errors"

	"github.com/bprun/bp/engine"
)

// ReturnValue ends the run (or the loop iteration, or the called
// blueprint) with a value.
type ReturnValue struct{}

var returnValueSpec = &engine.TypeSpec{
	Name: "returnvalue", Doc: "Ends the run with a value.",
	Fields: []engine.FieldSpec{
		{Name: "value", Kind: engine.FieldText, Type: engine.TypeAny, Required: true},
	},
	Outcomes: []string{"success", "error"},
	Return:   true,
}

func (ReturnValue) Spec() *engine.TypeSpec { return returnValueSpec }

func (ReturnValue) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, err := c.Field("value")
	if err != nil {
		return engine.Failure(err)
	}
	if v == nil && c.Blueprint().Format == engine.FormatWriter {
		return engine.Failure(errors.New("return value cannot be empty or null"))
	}
	return engine.Success(v)
}
