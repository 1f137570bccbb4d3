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
// An event whose text the scrubber holds back in part (it may be the start
// of a secret, or of a base64 group) waits, whole, until the rest is
// decided by the stream's next output or the block's end: events are
// delayed, never cut. Log streams ("log", "log:error") are messages, each
// whole when emitted: each is scrubbed on its own, so that one message
// stays one event, one line, and is not delayed.
type scrubSink struct {
	s *scrub.Scrubber

	mu      sync.Mutex
	sinks   []engine.Sink
	streams map[outputKey]*outputStream
}

type outputKey struct{ scope, block, stream string }

type outputStream struct {
	k       *scrubSink
	buf     bytes.Buffer // scrubbed text of pending[0] so far
	w       *scrub.Writer
	pending []engine.Event // output events whose text is not all out yet, oldest first
}

// Write receives the scrubbed text.
func (st *outputStream) Write(p []byte) (int, error) { return st.buf.Write(p) }

// Marked is called by the scrub.Writer when the text of the oldest pending
// event is all out: forward it.
func (st *outputStream) Marked() {
	ev := st.pending[0]
	st.pending = st.pending[1:]
	if st.buf.Len() == 0 {
		return // all of it joined a mask of an earlier event
	}
	ev.Message = st.buf.String()
	st.buf.Reset()
	st.k.forward(&ev)
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
			st = &outputStream{k: k}
			st.w = k.s.NewWriter(st)
			k.streams[key] = st
		}
		st.pending = append(st.pending, c)
		_, _ = st.w.Write([]byte(e.Message))
		st.w.Mark() // forwards c now, or once its text is all out
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
		_ = st.w.Close() // passes every mark: forwards every pending event
		delete(k.streams, key)
	}
}

func (k *scrubSink) forward(e *engine.Event) {
	for _, s := range k.sinks {
		s.Emit(e)
	}
}
