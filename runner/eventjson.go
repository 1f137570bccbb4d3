package runner

import (
	"time"

	"github.com/bprun/bp/engine"
)

// EventJSON is an event as JSON log lines, stored history and the server's
// event streams show it.
type EventJSON struct {
	Time       time.Time `json:"time"`
	Run        string    `json:"run"`
	Event      string    `json:"event"`
	Blueprint  string    `json:"blueprint,omitempty"`
	Scope      string    `json:"scope,omitempty"`
	Block      string    `json:"block,omitempty"`
	Type       string    `json:"type,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Status     string    `json:"status,omitempty"`
	Stream     string    `json:"stream,omitempty"`
	Message    string    `json:"message,omitempty"`
	Result     any       `json:"result,omitempty"`
	DurationMS *float64  `json:"duration_ms,omitempty"`
}

// ToJSON converts an event; durations are milliseconds.
func ToJSON(e *engine.Event) EventJSON {
	j := EventJSON{
		Time: e.Time.UTC(), Run: e.Run, Event: string(e.Kind), Blueprint: e.Blueprint, Scope: e.Scope,
		Block: e.Block, Type: e.Type, Outcome: e.Outcome, Status: e.Status, Stream: e.Stream,
		Message: e.Message, Result: e.Result,
	}
	if e.Kind == engine.BlockFinished || e.Kind == engine.RunFinished {
		ms := float64(e.Duration.Microseconds()) / 1000
		j.DurationMS = &ms
	}
	return j
}

// ToEvent converts a stored event back, for showing it again.
func (j EventJSON) ToEvent() *engine.Event {
	e := &engine.Event{
		Time: j.Time, Run: j.Run, Kind: engine.EventKind(j.Event), Blueprint: j.Blueprint, Scope: j.Scope,
		Block: j.Block, Type: j.Type, Outcome: j.Outcome, Status: j.Status, Stream: j.Stream,
		Message: j.Message, Result: j.Result,
	}
	if j.DurationMS != nil {
		e.Duration = time.Duration(*j.DurationMS * float64(time.Millisecond))
	}
	return e
}
