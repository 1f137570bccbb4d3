package runner

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/bprun/bp/engine"
)

// JSONLog writes each event as one JSON object per line (bp run --log
// json).
type JSONLog struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONLog makes a JSON lines log writing to w.
func NewJSONLog(w io.Writer) *JSONLog {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLog{enc: enc}
}

func (l *JSONLog) Emit(e *engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A value that does not encode (a block's result holding a Go type
	// JSON cannot show) must not lose the event.
	if err := l.enc.Encode(ToJSON(e)); err != nil {
		j := ToJSON(e)
		j.Result = "unencodable result: " + err.Error()
		_ = l.enc.Encode(j)
	}
}
