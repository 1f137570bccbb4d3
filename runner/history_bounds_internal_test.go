package runner

import (
	"strings"
	"testing"

	"github.com/bprun/bp/engine"
)

// TestHistoryBoundsARunsEvents emits more events, and more text, than
// history keeps of one run: the recorder keeps the first ones, counts the
// rest, and still keeps how the run ended.
func TestHistoryBoundsARunsEvents(t *testing.T) {
	for _, c := range []struct {
		name   string
		events int
		text   string
	}{
		{"count", MaxHistoryEvents + 100, "x"},
		{"bytes", 20, strings.Repeat("y", MaxHistoryBytes/16)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newHistoryRecorder("run-1", "chatty")
			r.Emit(&engine.Event{Kind: engine.RunStarted})
			for range c.events {
				r.Emit(&engine.Event{Kind: engine.BlockOutput, Block: "say", Stream: "log", Message: c.text})
			}
			r.Emit(&engine.Event{Kind: engine.RunFinished, Status: engine.StatusReturned, Message: "the end"})
			var text int
			for _, e := range r.events {
				text += len(e.Message)
			}
			if r.dropped == 0 || len(r.events) > MaxHistoryEvents+1 || text > MaxHistoryBytes+len("the end") {
				t.Errorf("kept %d events and %d bytes of text, dropped %d", len(r.events), text, r.dropped)
			}
			if r.dropped+len(r.events) != c.events+2 {
				t.Errorf("kept %d and dropped %d of %d events", len(r.events), r.dropped, c.events+2)
			}
			if last := r.events[len(r.events)-1]; last.Event != string(engine.RunFinished) || last.Message != "the end" {
				t.Errorf("the last event kept is %+v", last)
			}
		})
	}
}
