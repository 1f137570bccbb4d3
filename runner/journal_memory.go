package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/bprun/bp/engine"
)

// MemoryJournal is an engine.Journal inside one process: a worker that
// stops hands its runs to another worker of the same process, which
// resumes them. Checkpoints are kept as JSON, as a journal between
// processes keeps them, so that a resumed run sees the values a journal
// elsewhere would give it; they stay in memory only, never on disk.
type MemoryJournal struct {
	mu   sync.Mutex
	runs map[string][][]byte
}

// Load returns a run's checkpoints.
func (j *MemoryJournal) Load(ctx context.Context, runID string) ([]*engine.Checkpoint, error) {
	j.mu.Lock()
	recs := j.runs[runID]
	j.mu.Unlock()
	out := make([]*engine.Checkpoint, 0, len(recs))
	for _, b := range recs {
		cp, err := DecodeCheckpoint(b)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// Record keeps one checkpoint.
func (j *MemoryJournal) Record(ctx context.Context, runID string, cp *engine.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.runs == nil {
		j.runs = map[string][][]byte{}
	}
	j.runs[runID] = append(j.runs[runID], b)
	return nil
}

// Forget drops a finished run's checkpoints.
func (j *MemoryJournal) Forget(ctx context.Context, runID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.runs, runID)
	return nil
}

// Len is the number of runs that have checkpoints.
func (j *MemoryJournal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.runs)
}

// DecodeCheckpoint reads a checkpoint written as JSON, its numbers as the
// engine keeps them (exact beyond 2^53).
func DecodeCheckpoint(b []byte) (*engine.Checkpoint, error) {
	var cp engine.Checkpoint
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&cp); err != nil {
		return nil, fmt.Errorf("decoding a checkpoint: %w", err)
	}
	cp.Result = engine.Normalize(cp.Result)
	if cp.State != nil {
		cp.State, _ = engine.Normalize(cp.State).(map[string]any)
	}
	return &cp, nil
}
