package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// Journal is the cluster's engine.Journal: each checkpoint sealed, one
// message on the run's own subject of the checkpoint stream, purged once
// the run is recorded. Nil when the cluster has no SealKey: checkpoints
// hold values before scrubbing and are never written in clear.
func (c *Cluster) Journal() engine.Journal {
	if c.aead == nil {
		return nil
	}
	return &journal{c: c}
}

type journal struct{ c *Cluster }

// Record publishes one sealed checkpoint and waits for the stream to
// store it.
func (j *journal) Record(ctx context.Context, runID string, cp *engine.Checkpoint) error {
	plain, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("checkpoint of block %s: encoding it: %w", cp.Block, err)
	}
	data := seal(j.c.aead, runID, plain)
	clear(plain)
	if _, err := j.c.js.Publish(ctx, j.c.names.cpSubject+runID, data); err != nil {
		return fmt.Errorf("nats: checkpoint of block %s: %w", cp.Block, err)
	}
	return nil
}

// Load reads every checkpoint of a run.
func (j *journal) Load(ctx context.Context, runID string) ([]*engine.Checkpoint, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	subject := j.c.names.cpSubject + runID
	if _, err := j.c.cps.GetLastMsgForSubject(ctx, subject); errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("nats: checkpoints: %w", err)
	}
	cons, err := j.c.cps.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("nats: checkpoints: %w", err)
	}
	var out []*engine.Checkpoint
	for {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("nats: reading the checkpoints of run %s: %w", runID, err)
		}
		plain, err := unseal(j.c.aead, runID, msg.Data())
		if err != nil {
			return nil, err
		}
		cp, err := runner.DecodeCheckpoint(plain)
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		out = append(out, cp)
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("nats: checkpoints: %w", err)
		}
		if md.NumPending == 0 {
			return out, nil
		}
	}
}

// Forget purges a recorded run's checkpoints.
func (j *journal) Forget(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return err
	}
	return j.c.cps.Purge(ctx, jetstream.WithPurgeSubject(j.c.names.cpSubject+runID))
}
