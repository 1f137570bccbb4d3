package runner

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Job is a run handed to a worker through a Queue: what Request says,
// reduced to what crosses a process boundary as JSON.
type Job struct {
	// RunID names the run; submitting the same id twice starts one run.
	RunID     string         `json:"run"`
	Blueprint string         `json:"blueprint"`
	Payload   any            `json:"payload,omitempty"`
	Context   map[string]any `json:"context,omitempty"`
	Trigger   string         `json:"trigger,omitempty"`
	Submitted time.Time      `json:"submitted"`
}

// Queue hands runs to the workers that execute them. A run is delivered
// to one worker at a time; one that is not acknowledged (its worker died,
// or gave it back) is delivered again, to this worker or another. Queues
// are safe for concurrent use.
//
// MemoryQueue is the in-process default; a queue between processes
// (package natsrun: NATS JetStream) lets runs outlive the process that
// started them.
type Queue interface {
	// Submit enqueues a run. Submitting a run id again, within the
	// queue's window for duplicates, is not an error and starts no second
	// run (a client's retried submission).
	Submit(ctx context.Context, job *Job) error
	// Next waits for a run to execute, until ctx ends.
	Next(ctx context.Context) (Delivery, error)
}

// Delivery is one run given to one worker. Exactly one of Ack, Nak and
// Term ends it; until then the worker calls InProgress more often than the
// queue's redelivery delay, or the run goes to another worker.
type Delivery interface {
	Job() *Job
	// Attempt is 1 for a run's first delivery, more for a redelivery.
	Attempt() int
	// InProgress says that the run is still being worked on.
	InProgress(ctx context.Context) error
	// Ack says that the run is done (recorded); it is not delivered again.
	Ack(ctx context.Context) error
	// Nak gives the run back, to be delivered again after delay.
	Nak(ctx context.Context, delay time.Duration) error
	// Term drops a run that can never be executed (its job does not
	// decode).
	Term(ctx context.Context) error
}

// ErrQueueClosed is returned by a queue's Next once it is closed.
var ErrQueueClosed = errors.New("queue closed")

// MemoryQueue is a Queue inside one process: what bp serve does without a
// cluster, and what tests of Worker use. A run given back (Nak) or whose
// delivery was never ended when its worker stopped is delivered again;
// nothing survives the process.
type MemoryQueue struct {
	// Window is how long a run id is remembered against duplicates.
	// Zero means DefaultDuplicateWindow.
	Window time.Duration

	mu     sync.Mutex
	ready  []*memDelivery
	wake   chan struct{}
	seen   map[string]time.Time
	closed bool
}

// DefaultDuplicateWindow is how long a queue remembers run ids, so that
// a submission retried within it starts no second run.
const DefaultDuplicateWindow = 2 * time.Minute

func (q *MemoryQueue) init() {
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
		q.seen = map[string]time.Time{}
	}
}

// Submit enqueues a run, once per run id within the window.
func (q *MemoryQueue) Submit(ctx context.Context, job *Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	if q.closed {
		return ErrQueueClosed
	}
	window := q.Window
	if window <= 0 {
		window = DefaultDuplicateWindow
	}
	now := time.Now()
	for id, t := range q.seen {
		if now.Sub(t) > window {
			delete(q.seen, id)
		}
	}
	if _, dup := q.seen[job.RunID]; dup {
		return nil
	}
	q.seen[job.RunID] = now
	q.pushLocked(&memDelivery{q: q, job: job, attempt: 1})
	return nil
}

func (q *MemoryQueue) pushLocked(d *memDelivery) {
	q.ready = append(q.ready, d)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Next waits for a run.
func (q *MemoryQueue) Next(ctx context.Context) (Delivery, error) {
	for {
		q.mu.Lock()
		q.init()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrQueueClosed
		}
		if len(q.ready) > 0 {
			d := q.ready[0]
			q.ready = q.ready[1:]
			if len(q.ready) > 0 {
				select {
				case q.wake <- struct{}{}: // another waiter takes the next
				default:
				}
			}
			q.mu.Unlock()
			return d, nil
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends Next for every waiter; queued runs are dropped.
func (q *MemoryQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	q.closed = true
	q.ready = nil
	close(q.wake)
}

// Len is the number of runs waiting for a worker.
func (q *MemoryQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready)
}

type memDelivery struct {
	q       *MemoryQueue
	job     *Job
	attempt int
	once    sync.Once
}

func (d *memDelivery) Job() *Job                        { return d.job }
func (d *memDelivery) Attempt() int                     { return d.attempt }
func (d *memDelivery) InProgress(context.Context) error { return nil }
func (d *memDelivery) Ack(context.Context) error        { d.once.Do(func() {}); return nil }
func (d *memDelivery) Term(context.Context) error       { d.once.Do(func() {}); return nil }

func (d *memDelivery) Nak(ctx context.Context, delay time.Duration) error {
	d.once.Do(func() {
		again := &memDelivery{q: d.q, job: d.job, attempt: d.attempt + 1}
		requeue := func() {
			d.q.mu.Lock()
			defer d.q.mu.Unlock()
			if !d.q.closed {
				d.q.pushLocked(again)
			}
		}
		if delay <= 0 {
			requeue()
			return
		}
		time.AfterFunc(delay, requeue)
	})
	return nil
}
