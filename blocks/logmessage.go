package blocks

import (
	"context"
	"fmt"

	"github.com/bprun/bp/engine"
)

// LogMessage writes a message to the run log.
type LogMessage struct{}

var logMessageSpec = &engine.TypeSpec{
	Name: "logmessage", Doc: "Writes a message to the run log.",
	Fields: []engine.FieldSpec{
		{Name: "type", Kind: engine.FieldRaw, Doc: "info (default) or error"},
		{Name: "message", Kind: engine.FieldText, Required: true},
	},
	Outcomes: []string{"success", "error"},
}

func (LogMessage) Spec() *engine.TypeSpec { return logMessageSpec }

func (LogMessage) Run(ctx context.Context, c *engine.Call) engine.Result {
	msg, err := c.String("message")
	if err != nil {
		return engine.Failure(err)
	}
	level, _ := c.Raw("type").(string)
	switch level {
	case "", "info":
		c.Output("log", msg)
	case "error":
		c.Output("log:error", msg)
	default:
		return engine.Failure(fmt.Errorf("field type: %q is neither info nor error", level))
	}
	return engine.Success(msg)
}
