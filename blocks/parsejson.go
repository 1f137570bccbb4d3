package blocks

import (
	"context"
	"fmt"

	"github.com/bprun/bp/engine"
)

// ParseJSON parses text as JSON. Templates inserted into the text are
// JSON-escaped, so a value with quotes in it keeps the JSON valid.
type ParseJSON struct{}

var parseJSONSpec = &engine.TypeSpec{
	Name: "parsejson", Doc: "Parses JSON text.",
	Fields: []engine.FieldSpec{
		{Name: "plainText", Kind: engine.FieldJSON, Type: engine.TypeAny, Required: true},
	},
	Outcomes: []string{"success", "error"},
}

func (ParseJSON) Spec() *engine.TypeSpec { return parseJSONSpec }

func (ParseJSON) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, err := c.Field("plainText")
	if err != nil {
		return engine.Failure(err)
	}
	s, ok := v.(string)
	if !ok {
		// A whole-field template gave a value, not text: it is parsed.
		return engine.Success(v)
	}
	parsed, err := engine.DecodeJSON([]byte(s))
	if err != nil {
		return engine.Failure(fmt.Errorf("field plainText is not valid JSON: %v", err))
	}
	return engine.Success(parsed)
}
