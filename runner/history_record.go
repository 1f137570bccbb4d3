package runner

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bprun/bp/engine"
)

// MaxRecordBytes bounds the JSON of one run's history record as a whole:
// events, results, the return value and the payload (the trigger's
// result) included. A run that would need more keeps its record within it
// by cutting, visibly (RunRecord.Cut, CutMarker).
const MaxRecordBytes = 1 << 20

// MaxHistoryBytes bounds the message text collected of one run while it
// runs (a block that prints without end must not grow bp without end).
const MaxHistoryBytes = MaxRecordBytes

// MaxHistoryEvents bounds the events history keeps of one run; a run that
// emits more (a long loop, a chatty block) keeps its first ones and the
// count of the rest.
const MaxHistoryEvents = 10000

// CutMarker starts the text that replaces a value or ends a message that
// history cut to keep a record within MaxRecordBytes.
const CutMarker = "[cut by bp]"

// Parts of MaxRecordBytes that one value may take: the return value half,
// one event's result or message a sixteenth, the run's error a
// hundred-and-twenty-eighth.
const (
	maxReturnBytes  = MaxRecordBytes / 2
	maxResultBytes  = MaxRecordBytes / 16
	maxMessageBytes = MaxRecordBytes / 16
	maxErrorBytes   = MaxRecordBytes / 128
)

// historyRecorder collects one run's events and secret reads.
type historyRecorder struct {
	runID, blueprint string
	started          time.Time

	mu      sync.Mutex
	events  []EventJSON
	dropped int
	bytes   int
	cut     bool
	reads   []AuditRecord
}

func newHistoryRecorder(runID, blueprint string) *historyRecorder {
	return &historyRecorder{runID: runID, blueprint: blueprint, started: time.Now()}
}

func (r *historyRecorder) Emit(e *engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind == engine.RunStarted {
		r.started = e.Time
	}
	if e.Kind != engine.RunFinished && (len(r.events) >= MaxHistoryEvents || r.bytes+min(len(e.Message), maxMessageBytes) > MaxHistoryBytes) {
		r.dropped++
		return
	}
	j := ToJSON(e)
	if len(j.Message) > maxMessageBytes {
		// Cut now: the rest would be cut from the record anyway.
		j.Message, r.cut = cutText(j.Message, maxMessageBytes), true
	}
	r.bytes += len(j.Message)
	r.events = append(r.events, j)
}

// rescrub masks, in the recorded events, secrets registered after they
// were recorded.
func (r *historyRecorder) rescrub(s interface {
	String(string) string
	Value(any) any
}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		e := &r.events[i]
		e.Message = s.String(e.Message)
		if e.Result != nil {
			e.Result = s.Value(e.Result)
		}
	}
}

func (r *historyRecorder) secretRead(name, block string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, AuditRecord{Secret: name, Run: r.runID, Blueprint: r.blueprint, Block: block, Time: time.Now().UTC()})
}

// record is the run's history record, within MaxRecordBytes.
func (r *historyRecorder) record(res *Result) *RunRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := &RunRecord{
		ID: res.RunID, Blueprint: res.Blueprint, Status: res.Status, Started: r.started.UTC(),
		DurationMS: float64(res.Duration.Microseconds()) / 1000, Return: res.Return, HasReturn: res.HasReturn,
		DroppedEvents: r.dropped, SecretReads: r.reads, Cut: r.cut,
	}
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	boundRecord(rec, r.events, MaxRecordBytes)
	return rec
}

// boundRecord sets rec.Events to the events that fit, with rec's other
// fields, in max bytes of JSON: a value or message too large for its part
// is cut first, then the events that still do not fit are dropped (the
// last one, run.finished, is always kept). Sizes are estimated from the
// values, without encoding them, and stop counting at the bound, so that
// bounding a huge value costs no more than bounding a small one.
func boundRecord(rec *RunRecord, events []EventJSON, max int) {
	if len(rec.Error) > maxErrorBytes {
		rec.Error, rec.Cut = cutText(rec.Error, maxErrorBytes), true
	}
	if rec.HasReturn {
		if n, ok := jsonSize(rec.Return, maxReturnBytes); !ok {
			rec.Return, rec.Cut = cutValue("the return value", n), true
		}
	}
	header := *rec
	header.Events = nil
	used, _ := jsonSize(&header, math.MaxInt)
	used += len(`,"events":[]`)

	// run.finished is reserved room first: a record always says how the
	// run ended.
	last := -1
	if n := len(events); n > 0 && events[n-1].Event == string(engine.RunFinished) {
		last = n - 1
		cutEvent(rec, &events[last])
		n, _ := jsonSize(&events[last], math.MaxInt)
		used += n + 1
	}
	kept := make([]EventJSON, 0, len(events))
	for i := range events {
		if i == last {
			kept = append(kept, events[i])
			continue
		}
		e := events[i]
		cutEvent(rec, &e)
		n, _ := jsonSize(&e, max-used)
		if used+n+1 > max {
			rec.DroppedEvents++
			rec.Cut = true
			continue
		}
		used += n + 1
		kept = append(kept, e)
	}
	rec.Events = kept
}

// cutEvent cuts an event's message and result to their parts of a record.
func cutEvent(rec *RunRecord, e *EventJSON) {
	if len(e.Message) > maxMessageBytes {
		e.Message, rec.Cut = cutText(e.Message, maxMessageBytes), true
	}
	if e.Result != nil {
		if n, ok := jsonSize(e.Result, maxResultBytes); !ok {
			e.Result, rec.Cut = cutValue("this result", n), true
		}
	}
}

// cutText keeps the first bytes of s that fit in max with the marker,
// whole UTF-8 characters only.
func cutText(s string, max int) string {
	tail := fmt.Sprintf(" %s %d more bytes", CutMarker, len(s))
	keep := max - len(tail)
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + fmt.Sprintf(" %s %d more bytes", CutMarker, len(s)-keep)
}

// cutValue is the text that replaces a value too large to keep.
func cutValue(what string, size int) string {
	return fmt.Sprintf("%s %s is larger than %d bytes of JSON; a run record keeps %d bytes in all", CutMarker, what, size, MaxRecordBytes)
}

// jsonSize estimates the length of v's JSON, counting at most up to
// limit: ok is false, and n is past limit, when v is larger. The estimate
// is exact for the values runs hold (JSON's own types) and for escapes,
// and uses encoding/json for anything else.
func jsonSize(v any, limit int) (n int, ok bool) {
	c := sizeCounter{limit: limit}
	c.value(v)
	return c.n, c.n <= limit
}

type sizeCounter struct {
	n, limit int
}

func (c *sizeCounter) over() bool { return c.n > c.limit }

func (c *sizeCounter) value(v any) {
	if c.over() {
		return
	}
	switch v := v.(type) {
	case nil:
		c.n += 4
	case bool:
		c.n += 5
	case string:
		c.text(v)
	case float64:
		c.n += floatSize(v)
	case int:
		c.n += 20
	case int64:
		c.n += 20
	case json.Number:
		c.n += len(v)
	case []any:
		c.n += 2
		for i, e := range v {
			if i > 0 {
				c.n++
			}
			c.value(e)
			if c.over() {
				return
			}
		}
	case map[string]any:
		c.n += 2 + max(2*len(v)-1, 0) // braces, colons and commas
		for k, e := range v {
			c.text(k)
			c.value(e)
			if c.over() {
				return
			}
		}
	case map[string]string:
		c.n += 2 + max(2*len(v)-1, 0)
		for k, e := range v {
			c.text(k)
			c.text(e)
			if c.over() {
				return
			}
		}
	case *EventJSON:
		c.n += 200 // names, time and duration
		c.text(v.Run)
		c.text(v.Blueprint)
		c.text(v.Scope)
		c.text(v.Block)
		c.text(v.Type)
		c.text(v.Outcome)
		c.text(v.Status)
		c.text(v.Message)
		c.value(v.Result)
	case *RunRecord:
		c.n += 200
		c.text(v.ID)
		c.text(v.Blueprint)
		c.text(v.Status)
		c.text(v.Error)
		c.value(v.Return)
		for i := range v.SecretReads {
			a := &v.SecretReads[i]
			c.n += 120
			c.text(a.Secret)
			c.text(a.Run)
			c.text(a.Blueprint)
			c.text(a.Block)
		}
	default:
		b, err := json.Marshal(v)
		if err != nil {
			c.n += len(err.Error())
		}
		c.n += len(b)
	}
}

// floatSize is the length of a number as encoding/json writes it (ES6
// style: exponents only below 1e-6 and from 1e21, without a leading 0).
func floatSize(f float64) int {
	var b [32]byte
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	out := strconv.AppendFloat(b[:0], f, format, -1, 64)
	if n := len(out); format == 'e' && n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
		return n - 1
	}
	return len(out)
}

// text counts a JSON string as encoding/json writes it: quotes, two bytes
// for \" \\ \n \r \t \b \f, six for other control bytes, HTML characters, U+2028,
// U+2029 and invalid UTF-8.
func (c *sizeCounter) text(s string) {
	c.n += 2
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f':
				c.n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				c.n += 6
			default:
				c.n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			c.n += 6
		} else {
			c.n += size
		}
		i += size
		if c.over() {
			return
		}
	}
}
