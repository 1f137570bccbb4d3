package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The conversions of Call.Duration, Call.Int and Call.Bool, for block types
// to use in FieldSpec.Check as well: a constant that a run would refuse is
// refused at load, with the same words.

// ParseDuration is "1.5s", "200ms", or a number of seconds.
func ParseDuration(v any) (time.Duration, error) {
	switch t := v.(type) {
	case string:
		if d, err := time.ParseDuration(strings.TrimSpace(t)); err == nil {
			return d, nil
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(t), 64); err == nil {
			return time.Duration(f * float64(time.Second)), nil
		}
	case float64:
		return time.Duration(t * float64(time.Second)), nil
	case int:
		return time.Duration(t) * time.Second, nil
	case int64:
		return time.Duration(t) * time.Second, nil
	case uint64:
		return time.Duration(t) * time.Second, nil
	}
	return 0, fmt.Errorf("%v is not a duration (write 10s, 500ms or a number of seconds)", v)
}

// ParseInt is an integer, or text that is one.
func ParseInt(v any) (int, error) {
	switch t := v.(type) {
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			return n, nil
		}
	case float64:
		if t == float64(int(t)) {
			return int(t), nil
		}
	case int:
		return t, nil
	case int64:
		return int(t), nil
	case uint64:
		return int(t), nil
	}
	return 0, fmt.Errorf("%v is not an integer", v)
}

// ParseBool is a boolean, or text that is one.
func ParseBool(v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(t)); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%v is not true or false", v)
}

// CheckDuration, CheckInt and CheckBool are FieldSpec.Check functions.
func CheckDuration(v any) error { _, err := ParseDuration(v); return err }

// CheckInt: see CheckDuration.
func CheckInt(v any) error { _, err := ParseInt(v); return err }

// CheckBool: see CheckDuration.
func CheckBool(v any) error { _, err := ParseBool(v); return err }
