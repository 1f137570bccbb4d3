package engine

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNormalize(t *testing.T) {
	in := map[string]any{
		"i": int64(3), "big": int64(1) << 60, "n": json.Number("2.5"), "l": []any{1, "x", []string{"a"}},
		"keep": map[string]string{"a": "b"},
	}
	want := map[string]any{
		"i": 3.0, "big": int64(1) << 60, "n": 2.5, "l": []any{1.0, "x", []string{"a"}},
		"keep": map[string]string{"a": "b"},
	}
	if got := Normalize(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if in["i"] != int64(3) {
		t.Errorf("Normalize changed its input")
	}
}
