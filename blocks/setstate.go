package blocks

import (
	"context"
	"fmt"
	"strings"

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
	{Name: "element", Kind: engine.FieldText, Type: engine.TypeScalar, Required: true, Doc: "dotted state path"},
	{Name: "value", Kind: engine.FieldText, Type: engine.TypeAny},
	{Name: "valueType", Kind: engine.FieldRaw, Type: engine.TypeString, Doc: "text (default) or JSON", Enum: []string{"text", "JSON", "json"}, Check: checkTextOrJSON},
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
	isJSON, err := parseTextOrJSON(c.Raw("valueType"))
	if err != nil {
		return nil, &engine.FieldError{Field: "valueType", Err: err}
	}
	if isJSON {
		return c.JSON("value")
	}
	v, err := c.Field("value")
	if v == nil && err == nil && !c.Has("value") {
		v = ""
	}
	return v, err
}

// parseTextOrJSON reads the fields that say text or JSON (valueType,
// bodyType): whether it is JSON; nil and "" are text.
func parseTextOrJSON(v any) (isJSON bool, err error) {
	if v == nil {
		return false, nil
	}
	if s, ok := v.(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "text":
			return false, nil
		case "json":
			return true, nil
		}
		return false, fmt.Errorf("%q is neither text nor JSON", s)
	}
	return false, fmt.Errorf("%v is neither text nor JSON", v)
}

func checkTextOrJSON(v any) error { _, err := parseTextOrJSON(v); return err }
