package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bprun/bp/runner"
)

// maxRecordSize bounds a value of the history bucket: a record is bounded
// to runner.MaxRecordBytes of JSON, and the rest of it is small.
const maxRecordSize = runner.MaxRecordBytes + 64<<10

// History is the cluster's run history, a runner.HistoryStore over a
// key-value bucket: one key per run id, created once, so a run has
// exactly one final record whichever worker saves it first.
func (c *Cluster) History() runner.HistoryStore { return &history{c: c} }

type history struct{ c *Cluster }

// Save creates a run's record; a second one for the same id is refused
// with runner.ErrRunRecorded.
func (h *history) Save(ctx context.Context, rec *runner.RunRecord) error {
	if err := checkRunID(rec.ID); err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run %s: encoding its record: %w", rec.ID, err)
	}
	if _, err := h.c.history.Create(ctx, rec.ID, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("run %s: %w", rec.ID, runner.ErrRunRecorded)
		}
		return fmt.Errorf("nats: saving run %s: %w", rec.ID, err)
	}
	return nil
}

// Get reads one run by its full id.
func (h *history) Get(ctx context.Context, id string) (*runner.RunRecord, error) {
	if checkRunID(id) != nil {
		return nil, fmt.Errorf("run %s: %w", shorten(id), runner.ErrRunNotFound)
	}
	e, err := h.c.history.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("run %s: %w", id, runner.ErrRunNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("nats: reading run %s: %w", id, err)
	}
	var rec runner.RunRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("nats: run %s: its record does not decode: %w", id, err)
	}
	return &rec, nil
}

// List reads every record and returns the newest first, without events.
// It reads the whole bucket: meant for bp runs list, not for a hot path.
func (h *history) List(ctx context.Context, limit int) ([]runner.RunRecord, error) {
	recs, err := h.all(ctx)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		recs[i].Events = nil
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	return recs, nil
}

func (h *history) all(ctx context.Context) ([]runner.RunRecord, error) {
	lister, err := h.c.history.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("nats: listing runs: %w", err)
	}
	var recs []runner.RunRecord
	for key := range lister.Keys() {
		rec, err := h.Get(ctx, key)
		if errors.Is(err, runner.ErrRunNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			_ = lister.Stop()
			return nil, err
		}
		recs = append(recs, *rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Started.After(recs[j].Started) })
	return recs, nil
}

// Prune forgets runs beyond the retention policy. Config.HistoryTTL does
// the same for age inside the server, without a pass.
func (h *history) Prune(ctx context.Context, keep runner.Retention) (int, error) {
	if keep.IsZero() {
		return 0, nil
	}
	recs, err := h.all(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, rec := range recs {
		old := keep.MaxAge > 0 && time.Since(rec.Started) > keep.MaxAge
		if (keep.MaxRuns > 0 && i >= keep.MaxRuns) || old {
			if err := h.c.history.Purge(ctx, rec.ID); err != nil {
				return n, fmt.Errorf("nats: forgetting run %s: %w", rec.ID, err)
			}
			n++
		}
	}
	return n, nil
}
