package blocks

import (
	"context"

	"github.com/bprun/bp/engine"
)

// AddToStateList appends a value to a list in the state.
type AddToStateList struct{}

var addToStateListSpec = &engine.TypeSpec{
	Name: "addtostatelist", Doc: "Appends a value to a list in the state.",
	Fields:   stateFields,
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
