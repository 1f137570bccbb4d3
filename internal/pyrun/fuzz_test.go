//go:build unix

package pyrun

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// frameLog records what parseFrames hands on.
type frameLog struct{ calls []string }

func (l *frameLog) Output(stream string, p []byte) { l.calls = append(l.calls, stream+":"+string(p)) }
func (l *frameLog) Mask(v string)                  { l.calls = append(l.calls, "mask:"+v) }

func frame(kind byte, payload string) []byte {
	b := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// parseAll feeds data to a session's frame parser in pieces of the given
// sizes (cycled), as reads from the answer pipe would.
func parseAll(data []byte, pieces []byte) (*session, *frameLog) {
	l := &frameLog{}
	s := &session{h: l}
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(pieces) > 0 {
			n = int(pieces[i%len(pieces)])%64 + 1
			n = min(n, len(data))
		}
		s.frames = append(s.frames, data[:n]...)
		data = data[n:]
		s.parseFrames()
		if s.protoErr != nil {
			break
		}
	}
	return s, l
}

// The answer channel is written by the harness, but a block can write to
// fd 3 itself: whatever arrives there, however the reads split it, the
// parser hands on the same frames, never panics, and an answer that is not
// valid JSON is an error.
func FuzzAnswerFrames(f *testing.F) {
	f.Add(append(append(frame('o', "hello\n"), frame('m', "s3cret")...), frame('d', `{"masks":[],"has_value":true,"value":1,"state":{}}`)...), []byte{3, 1, 7})
	f.Add(frame('d', `{"fatal":"state must be a dict"}`), []byte{1})
	f.Add(frame('d', `{"value": 1e999, "has_value": true}`), []byte{})
	f.Add(frame('x', "?"), []byte{2})
	f.Add([]byte{'d', 0xff, 0xff, 0xff, 0xff}, []byte{4})
	f.Add(frame('d', `{"state": [1], "masks": ["a"]}`), []byte{9})
	f.Fuzz(func(t *testing.T, data, pieces []byte) {
		whole, wholeLog := parseAll(data, nil)
		split, splitLog := parseAll(data, pieces)
		if fmt.Sprint(whole.protoErr) != fmt.Sprint(split.protoErr) || whole.gotDone != split.gotDone ||
			!reflect.DeepEqual(whole.done, split.done) || !reflect.DeepEqual(wholeLog.calls, splitLog.calls) {
			t.Fatalf("split reads parse differently:\nwhole %v %q %q\nsplit %v %q %q",
				whole.protoErr, whole.done, wholeLog.calls, split.protoErr, split.done, splitLog.calls)
		}
		if whole.gotDone {
			if resp, err := decodeAnswer(whole.done); err == nil && resp == nil {
				t.Fatal("no answer and no error")
			}
		}
	})
}

// A block that writes garbage on the answer channel itself gets a clear
// error, at once, and the runner goes on.
func TestGarbageOnTheAnswerChannel(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		for _, code := range []string{
			"import os\nos.write(3, b'zzzz not a frame')\nimport time\ntime.sleep(100)",
			"import os\nos.write(3, b'd\\xff\\xff\\xff\\xff')\nimport time\ntime.sleep(100)",
			"import os\nos.write(3, b'd\\x00\\x00\\x00\\x03{x}')\nos._exit(0)",
		} {
			start := time.Now()
			_, err := r.Run(context.Background(), &Request{Code: code, Timeout: time.Minute}, nil)
			if err == nil || !strings.Contains(err.Error(), "answer") {
				t.Errorf("%q: %v", code, err)
			}
			if d := time.Since(start); d > prompt {
				t.Errorf("%q: took %v", code, d)
			}
		}
		if resp, _ := mustRun(t, r, &Request{Code: "set_output(2)"}); resp.Value != int64(2) {
			t.Fatalf("after garbage: %v", resp.Value)
		}
	})
}
