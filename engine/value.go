package engine

import (
	"encoding/json"
	"strconv"
)

// Normalize makes a JSON-like value use the engine's own number type:
// float64, as encoding/json gives, for every integer it holds exactly
// (|n| <= 2^53). Larger integers stay exact as int64, or as json.Number
// beyond that. Maps and lists are copied only where something changes.
func Normalize(v any) any {
	switch t := v.(type) {
	case int:
		return normInt(int64(t), v)
	case int64:
		return normInt(t, v)
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return normInt(n, n)
		}
		if f, err := t.Float64(); err == nil && strconv.FormatFloat(f, 'g', -1, 64) == string(t) {
			return f
		}
		return t
	case map[string]any:
		var out map[string]any
		for k, x := range t {
			n := Normalize(x)
			if out == nil && !sameValue(n, x) {
				out = make(map[string]any, len(t))
				for k2, x2 := range t {
					out[k2] = x2
				}
			}
			if out != nil {
				out[k] = n
			}
		}
		if out == nil {
			return t
		}
		return out
	case []any:
		var out []any
		for i, x := range t {
			n := Normalize(x)
			if out == nil && !sameValue(n, x) {
				out = append([]any(nil), t...)
			}
			if out != nil {
				out[i] = n
			}
		}
		if out == nil {
			return t
		}
		return out
	}
	return v
}

const maxExactFloat = 1 << 53

func normInt(n int64, orig any) any {
	if n >= -maxExactFloat && n <= maxExactFloat {
		return float64(n)
	}
	return orig
}

// sameValue reports whether Normalize surely left x as it was, without
// comparing values that may not be comparable.
func sameValue(n, x any) bool {
	switch x.(type) {
	case int, int64, json.Number, map[string]any, []any:
		return false
	}
	return true
}
