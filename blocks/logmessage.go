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
		{Name: "type", Kind: engine.FieldRaw, Type: engine.TypeString, Doc: "info (default) or error", Enum: []string{"info", "error"}, Check: checkLogType},
		{Name: "message", Kind: engine.FieldText, Type: engine.TypeAny, Required: true},
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
	if err := checkLogType(level); err != nil {
		return engine.Failure(fmt.Errorf("field type: %w", err))
	}
	if level == "error" {
		c.Output("log:error", msg)
	} else {
		c.Output("log", msg)
	}
	return engine.Success(msg)
}

// checkLogType accepts the log message types: info (or none) and error.
func checkLogType(v any) error {
	switch v {
	case nil, "", "info", "error":
		return nil
	}
	return fmt.Errorf("%q is neither info nor error", fmt.Sprint(v))
}
