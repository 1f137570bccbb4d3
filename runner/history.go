package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// HistoryStore keeps finished runs, scrubbed: what bp runs list and show
// read, and what the server answers for runs it no longer holds. One store
// is opened per process and shared by every run; implementations are safe
// for concurrent use.
//
// The interface says nothing of storage: BoltHistory keeps runs in a local
// bbolt file; another store can keep them elsewhere.
type HistoryStore interface {
	// Save records a finished run. When it returns nil the record is
	// durable: a crash after that does not lose it. A run is reported
	// finished only after Save returned.
	Save(ctx context.Context, rec *RunRecord) error
	// Get returns one run with its events, or an error wrapping
	// ErrRunNotFound. A store may also accept a unique prefix of an id.
	Get(ctx context.Context, id string) (*RunRecord, error)
	// List returns the newest runs first, at most limit (0 for all),
	// without their events.
	List(ctx context.Context, limit int) ([]RunRecord, error)
	// Prune forgets the runs a retention policy no longer keeps, and says
	// how many it forgot.
	Prune(ctx context.Context, keep Retention) (int, error)
}

// Retention says which runs history keeps: at most MaxRuns (the newest),
// none older than MaxAge. Zero fields keep everything.
type Retention struct {
	MaxRuns int
	MaxAge  time.Duration
}

// IsZero reports whether the policy keeps every run.
func (r Retention) IsZero() bool { return r.MaxRuns <= 0 && r.MaxAge <= 0 }

// ErrRunNotFound is a run id that history does not hold.
var ErrRunNotFound = errors.New("run not found in history")

// ErrRunRecorded is returned by a store's Save, when it can tell, for a run
// id that already has its final record: a run has exactly one, and the
// first one saved stands.
var ErrRunRecorded = errors.New("run already recorded")

// ErrAmbiguousRun is a run id prefix that more than one run has.
var ErrAmbiguousRun = errors.New("run id prefix is ambiguous")

// RunRecord is one finished run as history keeps it. Everything in it went
// through the run's scrubber, and it is bounded as a whole (see
// MaxRecordBytes): what did not fit is cut, and Cut says so.
type RunRecord struct {
	ID         string      `json:"id"`
	Blueprint  string      `json:"blueprint"`
	Status     string      `json:"status"`
	Started    time.Time   `json:"started"`
	DurationMS float64     `json:"duration_ms"`
	Return     any         `json:"return,omitempty"`
	HasReturn  bool        `json:"has_return,omitempty"`
	Error      string      `json:"error,omitempty"`
	Events     []EventJSON `json:"events,omitempty"`
	// DroppedEvents counts the events not kept: beyond MaxHistoryEvents,
	// or beyond the record's size bound.
	DroppedEvents int `json:"dropped_events,omitempty"`
	// Cut says that values, messages or events were cut to keep the
	// record within MaxRecordBytes; each cut value is replaced by a text
	// that starts with CutMarker.
	Cut bool `json:"cut,omitempty"`
	// SecretReads are the secrets the run's blocks read (names only),
	// for bp vault audit.
	SecretReads []AuditRecord `json:"secret_reads,omitempty"`
}

// AuditRecord says that a block of a run read a secret. It never holds the
// value.
type AuditRecord struct {
	Secret    string    `json:"secret"`
	Run       string    `json:"run"`
	Blueprint string    `json:"blueprint"`
	Block     string    `json:"block"`
	Time      time.Time `json:"time"`
}

// DefaultHistoryPath is $XDG_DATA_HOME/bp/history.db, else
// ~/.local/share/bp/history.db.
func DefaultHistoryPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "bp", "history.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the run history: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "bp", "history.db"), nil
}

// PruneEvery applies a retention policy to a store now and then every
// period until ctx ends; report (when not nil) hears of every pass that
// forgot runs or failed.
func PruneEvery(ctx context.Context, store HistoryStore, keep Retention, period time.Duration, report func(forgotten int, err error)) {
	if keep.IsZero() || store == nil {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		n, err := store.Prune(ctx, keep)
		if report != nil && (n > 0 || err != nil) && ctx.Err() == nil {
			report(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
