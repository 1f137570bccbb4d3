package server

import (
	"context"
	"errors"
	"time"
)

// admission lets at most MaxRuns runs be in progress, and at most Queue
// requests wait for one of them to end, each no longer than its deadline.
// A burst of clients waits its turn instead of bouncing off a 429; only a
// full queue refuses at once.
//
// A run that ended and waits for its record to be saved moves from its
// slot to one of recordingPerSlot × MaxRuns places: runs waiting for the
// disk do not keep others from running, and their records, in memory
// until saved, are still bounded.
type admission struct {
	slots     chan struct{} // one per run in progress
	queue     chan struct{} // one per request waiting for a slot
	recording chan struct{} // one per ended run whose record is being saved
	closing   chan struct{} // closed by Shutdown
}

// recordingPerSlot sizes the places of runs waiting for their record.
const recordingPerSlot = 4

func newAdmission(maxRuns, queue int) *admission {
	return &admission{
		slots: make(chan struct{}, maxRuns), queue: make(chan struct{}, queue),
		recording: make(chan struct{}, recordingPerSlot*maxRuns), closing: make(chan struct{}),
	}
}

// Reasons a run is refused before it starts.
var (
	// errBusy: every slot is taken and the queue is full (429).
	errBusy = errors.New("too many runs in progress and waiting; try again later")
	// errQueueTimeout: the request waited past its deadline (503).
	errQueueTimeout = errors.New("waited too long for a run to end; try again later")
	// errClosing: the server is shutting down (503).
	errClosing = errors.New("the server is shutting down")
)

// acquire takes a slot, waiting in the queue up to wait when there is
// room in it. ctx is the request's: a client that goes away leaves the
// queue.
func (a *admission) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case <-a.closing:
		return errClosing
	default:
	}
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case a.queue <- struct{}{}:
	default:
		return errBusy
	}
	defer func() { <-a.queue }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errQueueTimeout
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-a.closing:
		return errClosing
	}
}

// release frees the slot of a run that ended (or never started).
func (a *admission) release() { <-a.slots }

// recordingStarts moves an ended run from its slot to a place among the
// runs waiting for their record, waiting for one if they are all taken.
func (a *admission) recordingStarts() {
	a.recording <- struct{}{}
	<-a.slots
}

// recorded frees the place of a run whose record was saved (or not).
func (a *admission) recorded() { <-a.recording }

// close refuses every request from now on, waiting ones included.
func (a *admission) close() { close(a.closing) }

// inFlight and waiting are the runs in progress and the requests queued.
func (a *admission) inFlight() int { return len(a.slots) }
func (a *admission) waiting() int  { return len(a.queue) }
