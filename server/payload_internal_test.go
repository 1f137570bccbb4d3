package server

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

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
		if n := countJSONValues(data); n != want {
			t.Fatalf("countJSONValues(%s) = %d; it decodes to %d values", data, n, want)
		}
		// Read in pieces of every size, the body is refused past its
		// values, and only then.
		for _, piece := range []int{1, 2, 7} {
			r := iotest.OneByteReader(bytes.NewReader(data))
			if piece > 1 {
				r = &chunked{data: data, size: piece}
			}
			if _, err := readBody(r, -1, 1<<20, want); err != nil {
				t.Fatalf("readBody(%s, %d values allowed): %v", data, want, err)
			}
			r = &chunked{data: data, size: piece}
			if _, err := readBody(r, -1, 1<<20, want-1); !errors.Is(err, errTooManyValues) {
				t.Fatalf("readBody(%s, %d values allowed) = %v, want errTooManyValues", data, want-1, err)
			}
		}
	})
}

// chunked reads data size bytes at a time.
type chunked struct {
	data []byte
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}
