package runner

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bprun/bp/engine"
)

// History stores finished runs, scrubbed, in a bbolt file: what bp runs
// list and show read, and the audit of which secrets each run read. The
// file is opened for each write and each read, so that parallel runs and
// the commands that read history never keep each other waiting for long.
type History struct {
	path string
}

var (
	bucketRuns  = []byte("runs")  // order key -> RunRecord JSON
	bucketIDs   = []byte("ids")   // run id -> order key
	bucketAudit = []byte("audit") // name \x00 order key \x00 block -> AuditRecord JSON
)

// OpenHistory returns the history stored at path (created on first write).
func OpenHistory(path string) *History { return &History{path: path} }

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

// Path is the history file.
func (h *History) Path() string { return h.path }

// RunRecord is one finished run as history keeps it. Everything in it went
// through the run's scrubber.
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
	// DroppedEvents counts the events beyond MaxHistoryEvents not kept.
	DroppedEvents int `json:"dropped_events,omitempty"`
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

// historyRecorder collects one run's events and secret reads.
type historyRecorder struct {
	runID, blueprint string
	started          time.Time

	mu      sync.Mutex
	events  []EventJSON
	dropped int
	bytes   int
	reads   []AuditRecord
}

func newHistoryRecorder(runID, blueprint string) *historyRecorder {
	return &historyRecorder{runID: runID, blueprint: blueprint, started: time.Now()}
}

func (r *historyRecorder) Emit(e *engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind == engine.RunStarted {
		r.started = e.Time
	}
	if e.Kind != engine.RunFinished && (len(r.events) >= MaxHistoryEvents || r.bytes+len(e.Message) > MaxHistoryBytes) {
		r.dropped++
		return
	}
	r.bytes += len(e.Message)
	r.events = append(r.events, ToJSON(e))
}

// MaxHistoryBytes bounds the message text history keeps of one run (a
// block that prints without end must not grow bp without end).
const MaxHistoryBytes = 16 << 20

// MaxHistoryEvents bounds the events history keeps of one run; a run that
// emits more (a long loop, a chatty block) keeps its first ones and the
// count of the rest.
const MaxHistoryEvents = 10000

// rescrub masks, in the recorded events, secrets registered after they
// were recorded.
func (r *historyRecorder) rescrub(s interface {
	String(string) string
	Value(any) any
}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		e := &r.events[i]
		e.Message = s.String(e.Message)
		if e.Result != nil {
			e.Result = s.Value(e.Result)
		}
	}
}

func (r *historyRecorder) secretRead(name, block string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, AuditRecord{Secret: name, Run: r.runID, Blueprint: r.blueprint, Block: block, Time: time.Now().UTC()})
}

func (h *History) open(readOnly bool) (*bolt.DB, error) {
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(h.path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := bolt.Open(h.path, 0o600, &bolt.Options{Timeout: 10 * time.Second, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("run history %s: %w", h.path, err)
	}
	return db, nil
}

// save writes a run and its audit records in one transaction.
func (h *History) save(r *historyRecorder, res *Result) error {
	r.mu.Lock()
	rec := RunRecord{
		ID: res.RunID, Blueprint: res.Blueprint, Status: res.Status, Started: r.started.UTC(),
		DurationMS: float64(res.Duration.Microseconds()) / 1000, Return: res.Return, HasReturn: res.HasReturn,
		Events: r.events,
	}
	reads := r.reads
	rec.DroppedEvents = r.dropped
	r.mu.Unlock()
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	db, err := h.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		runs, err := tx.CreateBucketIfNotExists(bucketRuns)
		if err != nil {
			return err
		}
		ids, err := tx.CreateBucketIfNotExists(bucketIDs)
		if err != nil {
			return err
		}
		audit, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return err
		}
		key := orderKey(rec.Started, rec.ID)
		if err := runs.Put(key, data); err != nil {
			return err
		}
		if err := ids.Put([]byte(rec.ID), key); err != nil {
			return err
		}
		for _, a := range reads {
			b, err := json.Marshal(a)
			if err != nil {
				return err
			}
			k := append(append(append([]byte(a.Secret), 0), orderKey(a.Time, a.Run)...), append([]byte{0}, a.Block...)...)
			if err := audit.Put(k, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// orderKey sorts runs by start time.
func orderKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

// List returns the newest runs first, at most limit (0 for all), without
// their events.
func (h *History) List(limit int) ([]RunRecord, error) {
	db, err := h.open(true)
	if err != nil || db == nil {
		return nil, err
	}
	defer db.Close()
	var out []RunRecord
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit == 0 || len(out) < limit); k, v = c.Prev() {
			var rec RunRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("run history record %x: %w", k, err)
			}
			rec.Events = nil
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// ErrRunNotFound is a run id that history does not hold.
var ErrRunNotFound = errors.New("run not found in history")

// Get returns one run with its events. id may be a unique prefix.
func (h *History) Get(id string) (*RunRecord, error) {
	db, err := h.open(true)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("run %s: %w", id, ErrRunNotFound)
	}
	defer db.Close()
	var rec *RunRecord
	err = db.View(func(tx *bolt.Tx) error {
		ids, runs := tx.Bucket(bucketIDs), tx.Bucket(bucketRuns)
		if ids == nil || runs == nil {
			return fmt.Errorf("run %s: %w", id, ErrRunNotFound)
		}
		var key []byte
		c := ids.Cursor()
		for k, v := c.Seek([]byte(id)); k != nil && bytes.HasPrefix(k, []byte(id)); k, v = c.Next() {
			if key != nil {
				return fmt.Errorf("run id prefix %s is ambiguous", id)
			}
			key = v
		}
		if key == nil {
			return fmt.Errorf("run %s: %w", id, ErrRunNotFound)
		}
		rec = &RunRecord{}
		return json.Unmarshal(runs.Get(key), rec)
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Audit returns the secret reads recorded for a secret (all secrets when
// name is empty), oldest first.
func (h *History) Audit(name string) ([]AuditRecord, error) {
	db, err := h.open(true)
	if err != nil || db == nil {
		return nil, err
	}
	defer db.Close()
	var out []AuditRecord
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		prefix := []byte(nil)
		if name != "" {
			prefix = append([]byte(name), 0)
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a AuditRecord
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
