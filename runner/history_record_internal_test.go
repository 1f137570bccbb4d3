package runner

import (
	"encoding/json"
	"testing"

	"github.com/bprun/bp/engine"
)

// FuzzJSONSize checks that the size estimate that bounds history records
// is exact for JSON values, and that a limit stops it early and says so.
func FuzzJSONSize(f *testing.F) {
	for _, s := range []string{`null`, `[1.5e-7, 1e21, 123456789, -0.000001, 0]`, `{"a<b>&":"\u2028\u0001\n\"é"}`, `[[],[{}],"\ud800"]`, `"\xff"`} {
		f.Add([]byte(s), 10)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		v, err := engine.DecodeJSON(data)
		if err != nil {
			return
		}
		want, err := json.Marshal(v)
		if err != nil {
			return
		}
		if n, ok := jsonSize(v, len(want)); n != len(want) || !ok {
			t.Fatalf("jsonSize(%s) = %d, %v; encoding/json writes %d bytes: %s", data, n, ok, len(want), want)
		}
		if limit < 0 || limit >= len(want) {
			return
		}
		if n, ok := jsonSize(v, limit); ok || n <= limit {
			t.Fatalf("jsonSize(%s, %d) = %d, %v; want past the limit", data, limit, n, ok)
		}
	})
}
