package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/bprun/bp/engine"
)

// readPayload reads and decodes a run's payload within the request's
// bounds: the body must arrive within BodyTimeout, hold at most MaxBody
// bytes and at most MaxPayloadValues JSON values, counted as it arrives,
// before anything is decoded. It answers the error itself when there is
// one.
func (s *Server) readPayload(w http.ResponseWriter, r *http.Request) (any, bool) {
	if r.ContentLength > s.opts.MaxBody {
		s.refuseBody(w, r)
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload is larger than %d bytes", s.opts.MaxBody))
		return nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.opts.MaxBody), r.ContentLength, s.opts.MaxBody, s.opts.MaxPayloadValues)
	if err != nil {
		// Whatever is left of the body is not waited for.
		s.refuseBody(w, r)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload is larger than %d bytes", mbe.Limit))
		case errors.Is(err, errTooManyValues):
			s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload holds more than %d JSON values", s.opts.MaxPayloadValues))
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.fail(w, http.StatusRequestTimeout, fmt.Sprintf("the payload did not arrive within %s", s.opts.BodyTimeout))
		default:
			s.fail(w, http.StatusBadRequest, "reading the payload failed")
		}
		return nil, false
	}
	// The connection reads on (for the next request, or to see the client
	// go away) without a deadline: idle and write limits bound it.
	_ = rc.SetReadDeadline(time.Time{})
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, true
	}
	v, err := engine.DecodeJSON(body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "payload is not valid JSON: "+err.Error())
		return nil, false
	}
	return v, true
}

// errTooManyValues is a body that holds more JSON values than allowed.
var errTooManyValues = errors.New("too many JSON values")

// readBody reads a body, counting its JSON values as they arrive: past
// maxValues it stops reading (errTooManyValues), so that a payload of
// millions of tiny values costs a few hundred KB, not its size.
func readBody(r io.Reader, declared, maxBytes int64, maxValues int) ([]byte, error) {
	// The buffer grows as the body arrives, doubling, up to the declared
	// length: a client that declares 10 MB and sends 300 KB costs 300 KB.
	limit := int64(-1)
	if declared >= 0 && declared <= maxBytes {
		limit = declared + 1 // one more byte, to read the end
	}
	buf := make([]byte, 0, initialBody(limit))
	var count valueCounter
	for {
		if len(buf) == cap(buf) {
			next := 2 * cap(buf)
			if limit > 0 && int64(next) > limit {
				next = int(max(limit, int64(cap(buf))+1))
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		count.feed(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		// One key may be counted before the colon that uncounts it.
		if count.n > maxValues+1 {
			return nil, errTooManyValues
		}
		if err == io.EOF {
			if count.n > maxValues {
				return nil, errTooManyValues
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// refuseBody answers a request without reading its body: the connection
// closes after the answer instead of draining what the client sends, so
// that a client (an unauthenticated one, say) cannot hold it open by
// sending slowly.
func (s *Server) refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// initialBody is the first buffer for a body of a known length (or -1).
func initialBody(limit int64) int {
	const chunk = 64 << 10
	if limit > 0 && limit < chunk {
		return int(limit)
	}
	return chunk
}

// countJSONValues counts the values of a JSON text: see valueCounter.
func countJSONValues(data []byte) int {
	var c valueCounter
	c.feed(data)
	return c.n
}

// valueCounter counts the values of a JSON text (each scalar, array and
// object; an object member's key is part of its member) as the text
// arrives, in pieces cut anywhere. For valid JSON the count is exact; for
// anything else it is a bound the decoder will not reach, as the decoder
// refuses the text.
type valueCounter struct {
	n                 int
	prev              byte // the last byte outside strings and white space
	inString, escaped bool
}

func (c *valueCounter) feed(p []byte) {
	for _, b := range p {
		if c.inString {
			switch {
			case c.escaped:
				c.escaped = false
			case b == '\\':
				c.escaped = true
			case b == '"':
				c.inString = false
				c.prev = '"'
			}
			continue
		}
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			c.n++
			c.inString = true
			continue
		case ':':
			c.n-- // the string before it was a key
		case '{', '[':
			c.n++
		case '}', ']', ',':
		default:
			if c.prev == 0 || c.prev == '[' || c.prev == ',' || c.prev == ':' {
				c.n++ // the first byte of a number, true, false or null
			}
		}
		c.prev = b
	}
}
