package blocks

import (
	"context"

	"github.com/bprun/bp/engine"
)

// SetState sets a value in the run's state, at a dotted path.
type SetState struct{}

var setStateSpec = &engine.TypeSpec{
	Name: "setstate", Doc: "Sets a value in the state.",
	Fields:   stateFields,
	Outcomes: []string{"success", "error"},
}

// stateFields are the fields of the blocks that write the state.
var stateFields = []engine.FieldSpec{
	{Name: "element", Kind: engine.FieldText, Required: true, Doc: "dotted state path"},
	{Name: "value", Kind: engine.FieldText},
	{Name: "valueType", Kind: engine.FieldRaw, Doc: "text (default) or JSON"},
}

func (SetState) Spec() *engine.TypeSpec { return setStateSpec }

func (SetState) Run(ctx context.Context, c *engine.Call) engine.Result {
	element, err := c.String("element")
	if err != nil {
		return engine.Failure(err)
	}
	value, err := valueField(c)
	if err != nil {
		return engine.Failure(err)
	}
	if err := c.SetState(element, value); err != nil {
		return engine.Failure(err)
	}
	return engine.Success(value)
}

// valueField reads the value field, parsing it as JSON when valueType
// says so.
func valueField(c *engine.Call) (any, error) {
	typ, _ := c.Raw("valueType").(string)
	if typ == "JSON" || typ == "json" {
		return c.JSON("value")
	}
	v, err := c.Field("value")
	if v == nil && err == nil && !c.Has("value") {
		v = ""
	}
	return v, err
}
