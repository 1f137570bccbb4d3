package blocks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bprun/bp/engine"
)

// readMask reads the mask field: a list of paths, JSON list text, or
// paths separated by commas.
func readMask(c *engine.Call) ([]string, error) {
	v, err := c.Field("mask")
	if err != nil || v == nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			if v, err = engine.DecodeJSON([]byte(s)); err != nil {
				return nil, &engine.FieldError{Field: "mask", Err: fmt.Errorf("not a JSON list of paths: %v", err)}
			}
		} else {
			var out []string
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out, nil
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &engine.FieldError{Field: "mask", Err: errors.New("not a list of paths")}
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, &engine.FieldError{Field: "mask", Err: fmt.Errorf("%v is not a path", x)}
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

// maskPaths registers the values at the mask paths as secrets of the
// run, before the result that holds them is emitted. A path that finds
// nothing is a warning.
func maskPaths(c *engine.Call, value map[string]any, paths []string) {
	for _, p := range paths {
		v, ok := lookupPath(value, p)
		if !ok {
			c.Warn(fmt.Sprintf("mask: nothing at %s in the result", p))
			continue
		}
		switch t := v.(type) {
		case string:
			c.Mask(t)
		case float64:
			c.Mask(strconv.FormatFloat(t, 'f', -1, 64))
		case nil:
			c.Warn(fmt.Sprintf("mask: %s is null", p))
		case bool:
			c.Warn(fmt.Sprintf("mask: %s is a boolean, not masked", p))
		default:
			// An object or a list: mask every string in it.
			walkStrings(t, c.Mask)
		}
	}
}

func walkStrings(v any, f func(string)) {
	switch t := v.(type) {
	case string:
		f(t)
	case map[string]any:
		for _, x := range t {
			walkStrings(x, f)
		}
	case []any:
		for _, x := range t {
			walkStrings(x, f)
		}
	}
}

// lookupPath follows a dotted path (\. for a literal dot). Keys match
// exactly, else regardless of case (header names); list items by index.
func lookupPath(v any, path string) (any, bool) {
	path = strings.TrimSpace(path)
	if path == "" {
		return nil, false
	}
	for _, key := range splitPath(path) {
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[key]
			if !ok {
				for k, y := range t {
					if strings.EqualFold(k, key) {
						x, ok = y, true
						break
					}
				}
			}
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func splitPath(path string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path) && path[i+1] == '.':
			b.WriteByte('.')
			i++
		case path[i] == '.':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(path[i])
		}
	}
	return append(out, b.String())
}
