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
// Each Write emits every byte that can no longer be part of a match, in a
// Write to the underlying writer (or a few: see Mark). Bytes that the input
// so far cannot decide are held back, usually none (a line ending is
// rarely the start of a secret): the bytes that might begin a pattern, at
// most the longest pattern minus one byte, and, once secrets with base64
// forms are registered, the last three base64 characters (a match in the
// next write may grow back over them, base64.go) and a last line of up to
// 76 base64 characters (it may be half of a wrapped one, wrap.go). Close
// emits them. There is no Flush: emitting held-back bytes before the stream
// ends could reveal the start of a secret.
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
	marker    Marker // w, if it is one
	buf       []byte // held-back input
	runEnd    int    // end of the masked run relative to buf[0]; <0: none touching
	lineStart bool   // buf[0] (or the next input, if buf is empty) starts a line
	marks     []int  // marks not passed yet, relative to buf[0]
	out       []byte // scratch for masked output, reused across writes
	spans     []span // scratch for the spans found
	err       error  // sticky error from w
	closed    bool
}

// A Marker is an underlying writer that wants to know where the output for
// the input before each Writer.Mark ends: its Marked method is called once
// all of that output has been written to it, and before any output for
// input after the mark.
type Marker interface {
	Marked()
}

// NewWriter returns a Writer that writes the scrubbed stream to w.
func (s *Scrubber) NewWriter(w io.Writer) *Writer {
	m, _ := w.(Marker)
	return &Writer{s: s, w: w, marker: m, runEnd: -1, lineStart: true}
}

// Mark notes a boundary in the input between what was written so far and
// what comes next, such as two messages of a log, so that a caller can
// tell their outputs apart although bytes of the first may be held back
// and emitted with the second: see Marker. Without a Marker it does
// nothing. A Mask that covers bytes on both sides belongs to the first.
func (w *Writer) Mark() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.marker == nil || w.closed || w.err != nil {
		return
	}
	if len(w.buf) == 0 {
		w.marker.Marked() // everything before it is out
		return
	}
	w.marks = append(w.marks, len(w.buf))
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
		if len(w.buf) <= k && off < len(p) {
			// What is held back now is the end of p's window (and no
			// mark is left in it): scan on from there in p itself.
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
	w.out, w.spans, w.marks = nil, nil, nil
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
	r, spans := w.s.m.Load().mask(text, w.runEnd, w.lineStart, final, w.out, w.spans, w.marks)
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
	// The output up to each passed mark, then the mark, then the rest.
	at := 0
	for _, m := range w.marks[:r.marked] {
		if err := w.emit(out[at:m]); err != nil {
			return err
		}
		w.marker.Marked()
		at = m
	}
	if err := w.emit(out[at:]); err != nil {
		return err
	}
	w.marks = append(w.marks[:0], w.marks[r.marked:]...)
	for i := range w.marks {
		w.marks[i] -= r.stop
	}
	if r.stop > 0 {
		w.lineStart = text[r.stop-1] == '\n'
	}
	// append handles the overlap when text is w.buf.
	w.buf = append(w.buf[:0], text[r.stop:]...)
	w.runEnd = max(r.runEnd-r.stop, -1)
	return nil
}

// emit writes out to the underlying writer; an error sticks.
func (w *Writer) emit(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	n, err := w.w.Write(out)
	if err == nil && n < len(out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}
