package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bprun/bp/runner"
)

// Queue is the cluster's queue of runs, a runner.Queue: one message per
// run on a work-queue stream, its run id the message id (so a submission
// retried within DuplicateWindow is stored once), consumed by one durable
// consumer that all workers share.
func (c *Cluster) Queue() runner.Queue { return &queue{c: c} }

type queue struct{ c *Cluster }

// Submit publishes a run, and marks it queued.
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
	ack, err := q.c.js.Publish(ctx, q.c.names.runsSubject, data, jetstream.WithMsgID(job.RunID), jetstream.WithExpectStream(q.c.names.runsStream))
	if err != nil {
		return fmt.Errorf("run %s: queueing it: %w", job.RunID, err)
	}
	if !ack.Duplicate {
		// Create, not Put: a worker that already took the run said so.
		_, _ = q.c.statuses.Create(ctx, job.RunID, statusValue(StatusQueued, 0))
	}
	return nil
}

// Next waits for a run, until ctx ends.
func (q *queue) Next(ctx context.Context) (runner.Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := q.c.workers.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				continue
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
		_, _ = q.c.statuses.Put(ctx, job.RunID, statusValue(StatusRunning, d.attempt))
		return d, nil
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

// Ack waits for the server's confirmation: once it returns, the run is
// not delivered again.
func (d *delivery) Ack(ctx context.Context) error {
	err := d.msg.DoubleAck(ctx)
	if err == nil {
		// The record is the run's status from now on.
		_ = d.c.statuses.Delete(ctx, d.job.RunID)
	}
	return err
}

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

func statusValue(status string, attempt int) []byte {
	b, _ := json.Marshal(runStatus{Status: status, Attempt: attempt, Time: time.Now().UTC()})
	return b
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
