package scrub

import (
	"errors"
	"io"
	"sync"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("scrub: write after Close")

// Writer masks a byte stream: a secret split across writes is still masked.
//
// Each Write emits every byte that can no longer be part of a match, in one
// Write to the underlying writer, or two when bytes were held back. Bytes that might begin a pattern that
// the input so far cannot confirm or rule out are held back, usually none
// (a line ending is rarely the start of a secret): at most the longest
// pattern minus one byte, and, once secrets with base64 forms are
// registered, the last three base64 characters (a match in the next write
// may grow back over them) and a last line of base64 of up to 76
// characters (it may be half of a wrapped one). Close emits them. There is no Flush: emitting held-back
// bytes before the stream ends could reveal the start of a secret.
//
// Patterns added to the Scrubber while a Writer streams apply from the next
// Write on, to held-back bytes too; bytes already emitted are never masked
// retroactively, so a secret that was partly emitted before it was added is
// only partly masked.
//
// A Writer is safe for concurrent use; concurrent writes are serialized.
type Writer struct {
	s *Scrubber

	mu        sync.Mutex
	w         io.Writer
	buf       []byte // held-back input
	runEnd    int    // end of the masked run relative to buf[0]; <0: none touching
	lineStart bool   // buf[0] (or the next input, if buf is empty) starts a line
	out       []byte // scratch for masked output, reused across writes
	spans     []span // scratch for the spans found
	join      joinBuf
	err       error // sticky error from w
	closed    bool
}

// NewWriter returns a Writer that writes the scrubbed stream to w.
func (s *Scrubber) NewWriter(w io.Writer) *Writer {
	return &Writer{s: s, w: w, runEnd: -1, lineStart: true}
}

// Write scrubs p. It returns len(p) once p is accepted; bytes of p may be
// held back until a later Write or Close. After an error from the
// underlying writer, Write returns 0 and that error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Held-back bytes are decided together with as much of p as that
	// takes (a window that doubles), and the rest of p is scanned in
	// place: copying each write behind the few bytes the last one held
	// back would cost a good part of the scan.
	off := 0 // p[:off] has been handed to process
	for window := heldWindow; len(w.buf) > 0 && off < len(p); window *= 2 {
		k := min(len(p)-off, max(window, len(w.buf)))
		w.buf = append(w.buf, p[off:off+k]...)
		off += k
		if err := w.process(w.buf, false); err != nil {
			return 0, err
		}
		if len(w.buf) <= k {
			// What is held back now is the end of p's window: scan on
			// from there in p itself.
			off -= len(w.buf)
			w.buf = w.buf[:0]
		}
	}
	if off < len(p) {
		if err := w.process(p[off:], false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// heldWindow is how much of a write is first decided together with the
// bytes the previous one held back.
const heldWindow = 256

// Close emits the held-back bytes, masked, and ends the stream. It does not
// close the underlying writer. Calling Close again does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	err := w.process(w.buf, true)
	w.buf = nil
	w.out, w.spans = nil, nil
	return err
}

// Buffered returns the number of input bytes held back.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// process masks text (the held-back bytes followed by new input, or new
// input alone), writes what is decided and keeps the rest in w.buf.
func (w *Writer) process(text []byte, final bool) error {
	// Load the matcher once per write: patterns added meanwhile apply from
	// the next write on.
	r, spans := w.s.m.Load().mask(text, w.runEnd, w.lineStart, final, w.out, w.spans, &w.join)
	var out []byte
	if r.changed {
		out = r.out
		if cap(r.out) <= 1<<20 { // keep the scratch unless a huge write bloated it
			w.out = r.out[:0]
		} else {
			w.out = nil
		}
	} else {
		out = text[r.from:r.stop]
	}
	w.spans = spans[:0]
	if cap(w.spans) > 1<<12 {
		w.spans = nil
	}
	var err error
	if len(out) > 0 {
		var n int
		n, err = w.w.Write(out)
		if err == nil && n < len(out) {
			err = io.ErrShortWrite
		}
	}
	if r.stop > 0 {
		w.lineStart = text[r.stop-1] == '\n'
	}
	// append handles the overlap when text is w.buf.
	w.buf = append(w.buf[:0], text[r.stop:]...)
	w.runEnd = max(r.runEnd-r.stop, -1)
	if err != nil {
		w.err = err
	}
	return err
}
