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
// bytes and at most MaxPayloadValues JSON values, counted before anything
// is decoded. It answers the error itself when there is one.
func (s *Server) readPayload(w http.ResponseWriter, r *http.Request) (any, bool) {
	if r.ContentLength > s.opts.MaxBody {
		s.refuseBody(w, r)
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload is larger than %d bytes", s.opts.MaxBody))
		return nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.opts.MaxBody), r.ContentLength, s.opts.MaxBody)
	if err != nil {
		// Whatever is left of the body is not waited for.
		s.refuseBody(w, r)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload is larger than %d bytes", mbe.Limit))
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
	if n, over := countJSONValues(body, s.opts.MaxPayloadValues); over {
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload holds more than %d JSON values (at least %d)", s.opts.MaxPayloadValues, n))
		return nil, false
	}
	v, err := engine.DecodeJSON(body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "payload is not valid JSON: "+err.Error())
		return nil, false
	}
	return v, true
}

// readBody reads a body of a declared length into one buffer of that
// size (a larger declaration than max is read up to max, where the
// MaxBytesReader stops it), so that a large payload costs its size once,
// not the doublings of a growing buffer.
func readBody(r io.Reader, declared, max int64) ([]byte, error) {
	if declared < 0 || declared > max {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, declared+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // more than declared: grow
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

// countJSONValues counts the values of a JSON text (each scalar, array
// and object; an object member's key is part of its member), stopping
// once the count passes limit: over is then true. For valid JSON the
// count is exact; for anything else it is a bound the decoder will not
// reach, as the decoder refuses the text.
func countJSONValues(data []byte, limit int) (n int, over bool) {
	var prev byte // the last byte outside strings and white space
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			n++
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case ':':
			n-- // the string before it was a key
		case '{', '[':
			n++
		case '}', ']', ',':
		default:
			if prev == 0 || prev == '[' || prev == ',' || prev == ':' {
				n++ // the first byte of a number, true, false or null
			}
		}
		prev = c
		if n > limit {
			return n, true
		}
	}
	return n, false
}
