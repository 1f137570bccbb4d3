package blocks

import (
	"context"

	"github.com/bprun/bp/engine"
)

// Trigger is where a run starts. Its result is the run's payload, else its
// defaultResult (JSON if it parses, else text).
type Trigger struct{ spec *engine.TypeSpec }

func newTrigger(name, doc string) Trigger {
	return Trigger{spec: &engine.TypeSpec{
		Name: name, Doc: doc, Trigger: true,
		Fields: []engine.FieldSpec{
			{Name: "defaultResult", Kind: engine.FieldText, Type: engine.TypeAny, Doc: "the result when the run has no payload"},
			{Name: "refComponentId", Kind: engine.FieldRaw, Type: engine.TypeAny, Doc: "Writer UI component (ignored)"},
			{Name: "refEventType", Kind: engine.FieldRaw, Type: engine.TypeAny, Doc: "Writer UI event (ignored)"},
			{Name: "cronExpression", Kind: engine.FieldRaw, Type: engine.TypeAny, Doc: "Writer schedule (ignored)"},
		},
		Outcomes: []string{"trigger"},
	}}
}

func (t Trigger) Spec() *engine.TypeSpec { return t.spec }

func (t Trigger) Run(ctx context.Context, c *engine.Call) engine.Result {
	if p := c.Payload(); !isEmpty(p) {
		return engine.Outcome("trigger", p)
	}
	v, err := c.JSONOrText("defaultResult")
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Outcome("trigger", v)
}

// isEmpty is Python's falsiness for the values a payload can hold, which
// Writer's triggers use to fall back to the default.
func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
