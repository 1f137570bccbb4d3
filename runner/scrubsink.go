package runner

import (
	"bytes"
	"strings"
	"sync"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/scrub"
)

// scrubSink is the only way out of a run: the engine emits to it, and it
// masks every secret the run knows in every field of the event before any
// other sink sees it. Sinks behind it never see a raw event.
//
// A block's output is scrubbed as a stream, per block and stream, not per
// event: a secret printed in two pieces, in two events, is still masked.
// Held-back bytes are released when the block finishes. Log streams
// ("log", "log:error") are messages, each whole when emitted: each is
// scrubbed on its own, so that one message stays one event, one line.
type scrubSink struct {
	s *scrub.Scrubber

	mu      sync.Mutex
	sinks   []engine.Sink
	streams map[outputKey]*outputStream
}

type outputKey struct{ scope, block, stream string }

type outputStream struct {
	buf  bytes.Buffer
	w    *scrub.Writer
	last engine.Event // the latest output event, the template for releases
}

func newScrubSink(s *scrub.Scrubber, sinks []engine.Sink) *scrubSink {
	return &scrubSink{s: s, sinks: sinks, streams: map[outputKey]*outputStream{}}
}

func (k *scrubSink) Emit(e *engine.Event) {
	c := *e
	c.Run = k.s.String(c.Run)
	c.Block = k.s.String(c.Block)
	c.Blueprint = k.s.String(c.Blueprint)
	c.Scope = k.s.String(c.Scope)
	c.Type = k.s.String(c.Type)
	c.Outcome = k.s.String(c.Outcome)
	c.Status = k.s.String(c.Status)
	c.Stream = k.s.String(c.Stream)
	if c.Result != nil {
		c.Result = k.s.Value(c.Result)
	}
	// One event at a time, so that every sink sees the same order.
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case e.Kind == engine.BlockOutput && !isMessageStream(e.Stream):
		key := outputKey{e.Scope, e.Block, e.Stream}
		st := k.streams[key]
		if st == nil {
			st = &outputStream{}
			st.w = k.s.NewWriter(&st.buf)
			k.streams[key] = st
		}
		st.last = c
		_, _ = st.w.Write([]byte(e.Message))
		if st.buf.Len() == 0 {
			return // held back until more output, or the block's end
		}
		c.Message = st.buf.String()
		st.buf.Reset()
		k.forward(&c)
		return
	case e.Kind == engine.BlockFinished:
		k.releaseLocked(func(key outputKey) bool { return key.scope == e.Scope && key.block == e.Block })
	case e.Kind == engine.RunFinished:
		k.releaseLocked(func(outputKey) bool { return true })
	}
	c.Message = k.s.String(c.Message)
	k.forward(&c)
}

// isMessageStream reports whether a block output stream is made of whole
// messages (logmessage, an HTTP block's retry notes) rather than bytes as
// a process wrote them.
func isMessageStream(stream string) bool {
	return stream == "log" || strings.HasPrefix(stream, "log:")
}

// releaseLocked ends the output streams that match, emitting what they
// held back.
func (k *scrubSink) releaseLocked(match func(outputKey) bool) {
	for key, st := range k.streams {
		if !match(key) {
			continue
		}
		_ = st.w.Close()
		delete(k.streams, key)
		if st.buf.Len() > 0 {
			ev := st.last
			ev.Message = st.buf.String()
			k.forward(&ev)
		}
	}
}

func (k *scrubSink) forward(e *engine.Event) {
	for _, s := range k.sinks {
		s.Emit(e)
	}
}
