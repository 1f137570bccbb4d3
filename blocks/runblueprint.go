package blocks

import (
	"context"
	"errors"
	"strings"

	"github.com/bprun/bp/engine"
)

// RunBlueprint runs another blueprint and takes its return value.
type RunBlueprint struct{}

var runBlueprintSpec = &engine.TypeSpec{
	Name: "runblueprint", Doc: "Runs another blueprint.",
	Fields: []engine.FieldSpec{
		{Name: "blueprintKey", Kind: engine.FieldText, Required: true},
		{Name: "payload", Kind: engine.FieldText, Doc: "JSON if it parses, else text"},
	},
	Outcomes: []string{"success", "error"},
}

func (RunBlueprint) Spec() *engine.TypeSpec { return runBlueprintSpec }

func (RunBlueprint) Run(ctx context.Context, c *engine.Call) engine.Result {
	key, err := c.String("blueprintKey")
	if err != nil {
		return engine.Failure(err)
	}
	if key == "" {
		return engine.Failure(errors.New("field blueprintKey is empty"))
	}
	payload, err := payloadField(c)
	if err != nil {
		return engine.Failure(err)
	}
	v, err := c.RunBlueprint(ctx, key, payload)
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(v)
}

// payloadField is the payload: JSON when the field is JSON text (values
// inserted JSON-escaped, so that a quote in one keeps it JSON), else the
// text as written.
func payloadField(c *engine.Call) (any, error) {
	v, err := c.JSONText("payload")
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return v, nil
	}
	if parsed, err := engine.DecodeJSON([]byte(s)); err == nil {
		return parsed, nil
	}
	return c.Field("payload")
}
