package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bprun/bp/runner"
)

// Queue is the cluster's queue of runs, a runner.Queue: one message per
// run on a work-queue stream, its run id the message id (so a submission
// retried within DuplicateWindow is stored once), consumed by one durable
// consumer that all workers share. One Queue per process: it pulls runs in
// small batches (Config.Prefetch) for the workers of its process.
func (c *Cluster) Queue() runner.Queue {
	c.queueOnce.Do(func() { c.queue = &queue{c: c} })
	return c.queue
}

type queue struct {
	c *Cluster

	mu   sync.Mutex
	iter jetstream.MessagesContext
}

// Submit marks a run queued and publishes it. The status goes first, on
// the same connection, so that the worker's "running" always comes after
// it; it is written only if the run has none (a retried submission does
// not turn a running run back into a queued one), and not waited for.
func (q *queue) Submit(ctx context.Context, job *runner.Job) error {
	if err := checkRunID(job.RunID); err != nil {
		return err
	}
	if job.Submitted.IsZero() {
		job.Submitted = time.Now().UTC()
	}
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("run %s: encoding its job: %w", job.RunID, err)
	}
	q.c.putStatus(job.RunID, StatusQueued, 0, true)
	_, err = q.c.js.Publish(ctx, q.c.names.runsSubject, data, jetstream.WithMsgID(job.RunID), jetstream.WithExpectStream(q.c.names.runsStream))
	if err != nil {
		return fmt.Errorf("run %s: queueing it: %w", job.RunID, err)
	}
	return nil
}

// messages is the process's pull iterator, made on first use.
func (q *queue) messages() (jetstream.MessagesContext, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.iter == nil {
		it, err := q.c.workers.Messages(jetstream.PullMaxMessages(q.c.cfg.Prefetch))
		if err != nil {
			return nil, fmt.Errorf("nats: pulling runs: %w", err)
		}
		q.iter = it
	}
	return q.iter, nil
}

// Next waits for a run, until ctx ends.
func (q *queue) Next(ctx context.Context) (runner.Delivery, error) {
	it, err := q.messages()
	if err != nil {
		return nil, err
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil, runner.ErrQueueClosed
			}
			return nil, fmt.Errorf("nats: waiting for a run: %w", err)
		}
		d := &delivery{c: q.c, msg: msg, attempt: 1}
		if md, err := msg.Metadata(); err == nil {
			d.attempt = int(md.NumDelivered)
		}
		var job runner.Job
		if err := json.Unmarshal(msg.Data(), &job); err != nil || checkRunID(job.RunID) != nil {
			// Not a run bp can execute: drop it rather than hand it
			// round for ever.
			_ = msg.Term()
			continue
		}
		d.job = &job
		q.c.putStatus(job.RunID, StatusRunning, d.attempt, false)
		return d, nil
	}
}

// stop ends the pull iterator.
func (q *queue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.iter != nil {
		q.iter.Stop()
		q.iter = nil
	}
}

type delivery struct {
	c       *Cluster
	msg     jetstream.Msg
	job     *runner.Job
	attempt int
}

func (d *delivery) Job() *runner.Job { return d.job }
func (d *delivery) Attempt() int     { return d.attempt }

func (d *delivery) InProgress(ctx context.Context) error { return d.msg.InProgress() }

// Ack acknowledges the run without waiting for the server: an ack that
// is lost makes the run come back, to a worker that finds its record and
// acknowledges it again. The run's status entry stays, and expires: the
// record is what answers for a recorded run.
func (d *delivery) Ack(ctx context.Context) error { return d.msg.Ack() }

func (d *delivery) Nak(ctx context.Context, delay time.Duration) error {
	if delay > 0 {
		return d.msg.NakWithDelay(delay)
	}
	return d.msg.Nak()
}

func (d *delivery) Term(ctx context.Context) error { return d.msg.Term() }

// Statuses of runs not yet recorded.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
)

type runStatus struct {
	Status  string    `json:"status"`
	Attempt int       `json:"attempt,omitempty"`
	Time    time.Time `json:"time"`
}

// putStatus writes a run's status without waiting for it: a status is a
// hint for GET /v1/runs/{id}, the record is the truth. onlyNew writes it
// only if the run has none.
func (c *Cluster) putStatus(runID, status string, attempt int, onlyNew bool) {
	b, _ := json.Marshal(runStatus{Status: status, Attempt: attempt, Time: time.Now().UTC()})
	msg := nats.NewMsg("$KV." + c.names.statusBucket + "." + runID)
	msg.Data = b
	if onlyNew {
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	}
	_, _ = c.js.PublishMsgAsync(msg)
}

// Status says whether a run not yet recorded is queued or running; an
// error wrapping runner.ErrRunNotFound when the cluster does not know it.
// A recorded run's status is in its record (History).
func (c *Cluster) Status(ctx context.Context, runID string) (string, error) {
	if err := checkRunID(runID); err != nil {
		return "", fmt.Errorf("%w: %w", runner.ErrRunNotFound, err)
	}
	e, err := c.statuses.Get(ctx, runID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("run %s: %w", runID, runner.ErrRunNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("nats: status of run %s: %w", runID, err)
	}
	var st runStatus
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return "", fmt.Errorf("nats: status of run %s: %w", runID, err)
	}
	return st.Status, nil
}

// Submit queues a run (see Queue): with Follow, Cancel and Status, the
// cluster is what bp serve --nats answers from (server.Remote).
func (c *Cluster) Submit(ctx context.Context, job *runner.Job) error {
	return (&queue{c: c}).Submit(ctx, job)
}
