package scrub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Value returns a deep copy of v with every string masked, map keys
// included. v is never modified.
//
// v is expected to be JSON-like (what encoding/json decodes into: nil, bool,
// float64, json.Number, string, []any, map[string]any). Maps and slices in
// the result are always new, so the caller may modify them. Other values are
// converted as follows:
//   - other numbers and bools are kept, unless their decimal text contains a
//     pattern (a numeric PIN), in which case the masked text is returned as
//     a string;
//   - []byte is masked as bytes (into a new slice); an error becomes
//     s.Error(err);
//   - anything else (structs, typed maps and slices, pointers) goes through
//     a JSON round trip and comes back as JSON-like values, which is the
//     form in which it would be printed anyway; a value JSON cannot encode
//     becomes its masked fmt %v text.
//
// Two map keys that mask to the same text collide; one of the values wins.
func (s *Scrubber) Value(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return s.String(v)
	case map[string]any:
		if v == nil {
			return v // keep JSON null
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[s.String(k)] = s.Value(e)
		}
		return out
	case []any:
		if v == nil {
			return v // keep JSON null
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = s.Value(e)
		}
		return out
	case map[string]string:
		if v == nil {
			return v // keep JSON null
		}
		out := make(map[string]string, len(v))
		for k, e := range v {
			out[s.String(k)] = s.String(e)
		}
		return out
	case []string:
		if v == nil {
			return v // keep JSON null
		}
		out := make([]string, len(v))
		for i, e := range v {
			out[i] = s.String(e)
		}
		return out
	case []byte:
		return append([]byte(nil), s.Bytes(v)...)
	case json.Number:
		return s.number(v, []byte(v))
	case bool:
		return v
	case float64:
		return s.number(v, strconv.AppendFloat(make([]byte, 0, 32), v, 'g', -1, 64))
	case float32:
		return s.number(v, strconv.AppendFloat(make([]byte, 0, 32), float64(v), 'g', -1, 32))
	case int:
		return s.number(v, strconv.AppendInt(make([]byte, 0, 24), int64(v), 10))
	case int64:
		return s.number(v, strconv.AppendInt(make([]byte, 0, 24), v, 10))
	case int32:
		return s.number(v, strconv.AppendInt(make([]byte, 0, 24), int64(v), 10))
	case uint64:
		return s.number(v, strconv.AppendUint(make([]byte, 0, 24), v, 10))
	case error:
		return s.Error(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return s.String(fmt.Sprintf("%v", v))
	}
	var j any
	if err := json.Unmarshal(b, &j); err != nil {
		return s.String(string(b))
	}
	return s.Value(j)
}

// number returns v unless its text contains a pattern. float64 text is
// checked in both 'g' and plain decimal notation, as printers use either.
func (s *Scrubber) number(v any, text []byte) any {
	if s.contains(text) {
		return string(s.Bytes(text))
	}
	if f, ok := v.(float64); ok {
		plain := strconv.AppendFloat(make([]byte, 0, 32), f, 'f', -1, 64)
		if s.contains(plain) {
			return string(s.Bytes(plain))
		}
	}
	return v
}

// Error returns err with its message masked. If the message contains no
// pattern, err itself is returned. Otherwise the result's Error() is the
// masked message, and errors.Is and errors.As still see err's chain.
//
// The result deliberately has no Unwrap method: generic code that walks
// the chain and prints each wrapped error's message (loggers, error trees)
// would print the unmasked message. Is and As delegate instead. Code that
// extracts a wrapped error with errors.As and prints it must mask again.
func (s *Scrubber) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := s.String(msg)
	if masked == msg {
		return err
	}
	return &scrubbedError{msg: masked, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

// Is lets errors.Is match the original error chain.
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }

// As lets errors.As find errors in the original chain.
func (e *scrubbedError) As(target any) bool { return errors.As(e.err, target) }
