package bptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// recorder collects a run's events, as the runner's scrubbing sink hands
// them on, into the golden summary.
type recorder struct {
	mu     sync.Mutex
	scopes map[string]map[string]*blockRecord // scope → block id → record
	warns  []string                           // warnings of no block
}

type blockRecord struct {
	typ      string
	status   string
	outcome  string
	result   any
	message  string
	output   map[string]*strings.Builder
	dropped  map[string]int // output bytes beyond maxOutput, per stream
	warnings []string
}

// maxOutput bounds the output a golden file keeps per block and stream: a
// block that prints without end must not make a golden file without end.
const maxOutput = 1 << 20

func newRecorder() *recorder {
	return &recorder{scopes: map[string]map[string]*blockRecord{"": {}}}
}

func (r *recorder) block(scope, id string) *blockRecord {
	blocks := r.scopes[scope]
	if blocks == nil {
		blocks = map[string]*blockRecord{}
		r.scopes[scope] = blocks
	}
	b := blocks[id]
	if b == nil {
		b = &blockRecord{output: map[string]*strings.Builder{}}
		blocks[id] = b
	}
	return b
}

func (r *recorder) Emit(e *engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case engine.BlockStarted:
		b := r.block(e.Scope, e.Block)
		b.typ, b.status = e.Type, e.Status
	case engine.BlockFinished:
		b := r.block(e.Scope, e.Block)
		b.typ, b.status, b.outcome, b.message = e.Type, e.Status, e.Outcome, e.Message
		// Encoded now: later blocks may change values the result shares
		// (state lists, maps), and the summary is written after the run.
		b.result = snapshot(e.Result)
	case engine.BlockOutput:
		b := r.block(e.Scope, e.Block)
		stream := e.Stream
		if stream == "" {
			stream = "log"
		}
		sb := b.output[stream]
		if sb == nil {
			sb = &strings.Builder{}
			b.output[stream] = sb
		}
		// Joined as they come: the scrubbing sink may cut a process's
		// stream into events anywhere, so event boundaries mean nothing
		// there; a log stream's events are messages, one a line.
		msg := e.Message
		if isMessageStream(stream) && !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		if room := maxOutput - sb.Len(); len(msg) > room {
			if b.dropped == nil {
				b.dropped = map[string]int{}
			}
			b.dropped[stream] += len(msg) - room
			msg = msg[:room]
		}
		sb.WriteString(msg)
	case engine.RunWarning:
		if e.Block != "" {
			b := r.block(e.Scope, e.Block)
			b.warnings = append(b.warnings, e.Message)
		} else {
			r.warns = append(r.warns, e.Message)
		}
	}
}

// isMessageStream reports whether an output stream is made of messages
// (logmessage, an HTTP block's retry notes), as the runner's scrubbing
// sink keeps them: one event each.
func isMessageStream(stream string) bool {
	return stream == "log" || strings.HasPrefix(stream, "log:")
}

// retryWait is the wait in the httprequest block's retry log lines, a
// Go duration ("87ms", "1.2s", "1m0.5s").
var retryWait = regexp.MustCompile(`retrying in (?:[0-9.]+(?:ms|µs|us|ns|h|m|s))+`)

// snapshot is a value as JSON, fixed at the time of the event.
func snapshot(v any) any {
	if v == nil {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "bptest: the result is not JSON: " + err.Error()
	}
	return json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// summary is the golden JSON of a finished run: sorted keys, two-space
// indentation, a trailing newline.
func (r *recorder) summary(res *runner.Result) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]any{"status": res.Status}
	scopes := map[string]any{}
	for scope, blocks := range r.scopes {
		m := map[string]any{}
		for id, b := range blocks {
			m[id] = b.json()
		}
		if scope == "" {
			out["blocks"] = m
		} else if len(m) > 0 {
			scopes[scope] = m
		}
	}
	if len(scopes) > 0 {
		out["scopes"] = scopes
	}
	if res.HasReturn {
		out["return"] = res.Return
	}
	if res.Err != nil {
		out["error"] = res.Err.Error()
	}
	if len(r.warns) > 0 {
		out["warnings"] = r.warns
	}
	return encodeJSON(out)
}

func (b *blockRecord) json() map[string]any {
	m := map[string]any{"status": b.status}
	if b.typ != "" {
		m["type"] = b.typ
	}
	if b.outcome != "" {
		m["outcome"] = b.outcome
	}
	if b.result != nil {
		m["result"] = b.result
	}
	if b.message != "" {
		m["message"] = b.message
	}
	if len(b.output) > 0 {
		o := map[string]any{}
		for stream, sb := range b.output {
			text := sb.String()
			if b.typ == "httprequest" {
				// Retry waits have jitter: keep the golden file stable.
				text = retryWait.ReplaceAllString(text, "retrying in (wait)")
			}
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			if n := b.dropped[stream]; n > 0 {
				lines = append(lines, fmt.Sprintf("… %d more bytes not kept", n))
			}
			o[stream] = lines
		}
		m["output"] = o
	}
	if len(b.warnings) > 0 {
		m["warnings"] = b.warnings
	}
	return m
}

// encodeJSON is the canonical form: encoding/json sorts map keys.
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Events hold JSON values only; say so rather than panic.
		buf.Reset()
		enc.Encode(map[string]any{"error": "bptest: the run summary is not JSON: " + err.Error()})
	}
	return buf.Bytes()
}
