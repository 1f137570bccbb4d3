//go:build unix

package pyrun

import (
	"context"
	"testing"
	"time"
)

// A block that sends its answer and goes on is killed once it has had its
// exit grace, not left running past its timeout.
func TestAnswerThenHangIsBounded(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		_, err := r.Run(ctx, &Request{Timeout: 2 * time.Second, Code: `
import os, time
os.write(3, b'd\x00\x00\x00\x02{}')
time.sleep(30)
`}, nil)
		_ = err
		// Far below the block's 30 s sleep, far above its 2 s timeout and
		// exit grace on a loaded machine.
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Run took %s after the block answered", d)
		}
	})
}

// slowHandler takes a while for each piece of output, as a slow terminal
// or client would.
type slowHandler struct{}

func (slowHandler) Output(string, []byte) { time.Sleep(2 * time.Millisecond) }
func (slowHandler) Mask(string)           {}

// A block flooding its output faster than it is taken still times out.
func TestOutputFloodStillTimesOut(t *testing.T) {
	bothModes(t, func(t *testing.T, r *Runner) {
		start := time.Now()
		_, err := r.Run(context.Background(), &Request{Timeout: time.Second, Code: `
import sys
line = "x" * 200 + "\n"
while True:
    sys.stdout.write(line)
`}, slowHandler{})
		if err == nil {
			t.Fatal("a block that never ends answered")
		}
		// Bounded (the block never ends), with room for a loaded machine.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Run took %s with a 1s timeout: %v", d, err)
		}
	})
}
