package engine_test

import (
	"testing"

	"github.com/bprun/bp/engine"
)

func TestDecodeJSONRefusesTrailingData(t *testing.T) {
	for _, bad := range []string{`true}`, `{"a":1}]`, `1 2`, `[] x`, `"s"}"`} {
		if v, err := engine.DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeJSON(%s) = %v, want an error", bad, v)
		}
	}
	for _, good := range []string{`true`, " {\"a\": [1]} \n", `"s"`} {
		if _, err := engine.DecodeJSON([]byte(good)); err != nil {
			t.Errorf("DecodeJSON(%s): %v", good, err)
		}
	}
}
