package engine

import "time"

// EventKind names an event of a run, as written in JSON logs.
type EventKind string

const (
	RunStarted    EventKind = "run.started"
	BlockStarted  EventKind = "block.started"
	BlockOutput   EventKind = "block.output"
	BlockFinished EventKind = "block.finished"
	RunWarning    EventKind = "run.warning"
	RunFinished   EventKind = "run.finished"
)

// Block and run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded" // block ended with a non-error outcome
	StatusFailed    = "failed"    // block ended with an error outcome
	StatusSkipped   = "skipped"   // no incoming edge was taken
	StatusCancelled = "cancelled"

	StatusCompleted = "completed" // run ended with no return value
	StatusReturned  = "returned"  // run ended at a returnvalue block
)

// Event is one thing that happened in a run. Every output of a run is built
// from events, so that one sink, wrapped by the scrubber, is the only way
// out.
type Event struct {
	Time      time.Time
	Run       string // run id (a UUID)
	Kind      EventKind
	Blueprint string
	// Scope locates nested work: "" for the top run, else e.g.
	// "loop[2]" or "call:other" segments joined by "/".
	Scope    string
	Block    string
	Type     string
	Outcome  string
	Status   string
	Message  string
	Stream   string // block.output: "stdout", "stderr" or "log"
	Result   any
	Duration time.Duration
}

// Sink receives a run's events in order. Emit is called from many
// goroutines; implementations serialize as they need.
type Sink interface {
	Emit(e *Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(e *Event)

func (f SinkFunc) Emit(e *Event) { f(e) }

// Discard is a Sink that drops every event.
var Discard Sink = SinkFunc(func(*Event) {})
