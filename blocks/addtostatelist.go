package blocks

import (
	"context"

	"github.com/bprun/bp/engine"
)

// AddToStateList appends a value to a list in the state.
type AddToStateList struct{}

var addToStateListSpec = &engine.TypeSpec{
	Name: "addtostatelist", Doc: "Appends a value to a list in the state.",
	Fields: []engine.FieldSpec{
		{Name: "element", Kind: engine.FieldText, Required: true, Doc: "dotted state path of the list"},
		{Name: "value", Kind: engine.FieldText},
		{Name: "valueType", Kind: engine.FieldRaw, Doc: "text (default) or JSON"},
	},
	Outcomes: []string{"success", "error"},
}

func (AddToStateList) Spec() *engine.TypeSpec { return addToStateListSpec }

func (AddToStateList) Run(ctx context.Context, c *engine.Call) engine.Result {
	element, err := c.String("element")
	if err != nil {
		return engine.Failure(err)
	}
	value, err := valueField(c)
	if err != nil {
		return engine.Failure(err)
	}
	list, err := c.AppendState(element, value)
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(list)
}
