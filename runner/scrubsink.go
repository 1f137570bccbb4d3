package runner

import (
	"sync"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/scrub"
)

// scrubSink is the only way out of a run: the engine emits to it, and it
// masks every secret the run knows in every field of the event before any
// other sink sees it. Sinks behind it never see a raw event.
type scrubSink struct {
	s *scrub.Scrubber

	mu    sync.Mutex
	sinks []engine.Sink
}

func (k *scrubSink) Emit(e *engine.Event) {
	c := *e
	c.Message = k.s.String(c.Message)
	c.Block = k.s.String(c.Block)
	c.Blueprint = k.s.String(c.Blueprint)
	c.Scope = k.s.String(c.Scope)
	if c.Result != nil {
		c.Result = k.s.Value(c.Result)
	}
	// One event at a time, so that every sink sees the same order.
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.sinks {
		s.Emit(&c)
	}
}
