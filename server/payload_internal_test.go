package server

import (
	"testing"

	"github.com/bprun/bp/engine"
)

// values counts a decoded JSON value as countJSONValues counts its text.
func values(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += values(e)
		}
	case map[string]any:
		for _, e := range v {
			n += values(e)
		}
	}
	return n
}

// FuzzCountJSONValues checks that the count that bounds a payload before
// it is decoded is the count of what it decodes to, and that a limit
// stops it.
func FuzzCountJSONValues(f *testing.F) {
	for _, s := range []string{`null`, `[[],[],[]]`, `{"a:b": [1, "x\"]", {"c": true}], "d": -1.5e3}`, ` "s" `, `[{"":{}},"\\",false]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := engine.DecodeJSON(data)
		if err != nil {
			return
		}
		want := values(v)
		if n, over := countJSONValues(data, want); n != want || over {
			t.Fatalf("countJSONValues(%s) = %d, %v; it decodes to %d values", data, n, over, want)
		}
		if n, over := countJSONValues(data, want-1); !over || n < want {
			t.Fatalf("countJSONValues(%s, %d) = %d, %v; want over", data, want-1, n, over)
		}
	})
}
