package blocks

import (
	"context"
	"errors"

	"github.com/bprun/bp/engine"
)

// RunBlueprint runs another blueprint and takes its return value.
type RunBlueprint struct{}

var runBlueprintSpec = &engine.TypeSpec{
	Name: "runblueprint", Doc: "Runs another blueprint.",
	Fields: []engine.FieldSpec{
		{Name: "blueprintKey", Kind: engine.FieldText, Type: engine.TypeScalar, Required: true},
		{Name: "payload", Kind: engine.FieldText, Type: engine.TypeAny, Doc: "JSON if it parses, else text"},
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
	payload, err := c.JSONOrText("payload")
	if err != nil {
		return engine.Failure(err)
	}
	v, err := c.RunBlueprint(ctx, key, payload)
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(v)
}
