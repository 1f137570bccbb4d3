package natsrun

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// Relay carries live events and cancellations on core NATS subjects (at
// most once: a follower that misses an event finds the whole run in its
// record). A runner.Relay for workers; Follow and Cancel serve the API.
func (c *Cluster) Relay() runner.Relay { return relay{c} }

type relay struct{ c *Cluster }

// Sink publishes a run's events (already scrubbed) as EventJSON.
func (r relay) Sink(runID string) engine.Sink {
	subject := r.c.names.events + runID
	return engine.SinkFunc(func(e *engine.Event) {
		data, err := json.Marshal(runner.ToJSON(e))
		if err != nil {
			j := runner.ToJSON(e)
			j.Result = nil
			data, _ = json.Marshal(j)
		}
		_ = r.c.nc.Publish(subject, data)
	})
}

// OnCancel calls cancel when Cancel is called for the run, anywhere.
func (r relay) OnCancel(runID string, cancel func()) (func(), error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	sub, err := r.c.nc.Subscribe(r.c.names.cancel+runID, func(*nats.Msg) { cancel() })
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Follow calls fn with each live event of a run, in order, until stop is
// called. Subscribe before submitting, so as to miss none.
func (c *Cluster) Follow(ctx context.Context, runID string, fn func(runner.EventJSON)) (stop func(), err error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	ch := make(chan *nats.Msg, 4096)
	sub, err := c.nc.ChanSubscribe(c.names.events+runID, ch)
	if err != nil {
		return nil, fmt.Errorf("nats: following run %s: %w", runID, err)
	}
	// Flush makes the subscription known to the server before the run
	// can start.
	if err := c.flush(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("nats: following run %s: %w", runID, err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-ch:
				var e runner.EventJSON
				if json.Unmarshal(m.Data, &e) == nil {
					fn(e)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { _ = sub.Unsubscribe(); close(done) }, nil
}

// Cancel asks whichever worker runs a run to cancel it.
func (c *Cluster) Cancel(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return err
	}
	if err := c.nc.Publish(c.names.cancel+runID, nil); err != nil {
		return fmt.Errorf("nats: cancelling run %s: %w", runID, err)
	}
	return c.flush(ctx)
}

// flush waits until the server has what this connection sent.
func (c *Cluster) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	return c.nc.FlushWithContext(ctx)
}
