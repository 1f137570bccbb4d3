package runner

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltHistory is a HistoryStore in a local bbolt file. It is opened once
// per process and held: bbolt allows one writing process at a time, so
// another process that opens the same file waits for it (up to its
// LockTimeout).
//
// Saves are group-committed: one writer goroutine commits, in one
// transaction and one fsync, every record that queued while the previous
// commit ran, so that many runs finishing at once share a disk flush
// instead of waiting for one each.
type BoltHistory struct {
	path string
	db   *bolt.DB // nil for a read-only store of a file that does not exist

	queue   chan *pendingSave
	closing chan struct{}
	written chan struct{} // closed when the writer has drained the queue and stopped
	once    sync.Once
	mu      sync.RWMutex // held for reading by Save while it queues; Close takes it to stop queueing
	closed  bool
}

// BoltOptions configure OpenBoltHistory.
type BoltOptions struct {
	// ReadOnly opens the file shared, for reading; a file that does not
	// exist is an empty history. Save and Prune fail.
	ReadOnly bool
	// LockTimeout bounds the wait for another process that holds the
	// file. Zero means DefaultHistoryLockTimeout.
	LockTimeout time.Duration
}

// DefaultHistoryLockTimeout is how long opening a history file waits for
// another process that holds it.
const DefaultHistoryLockTimeout = 10 * time.Second

// maxCommit bounds how many records one commit carries.
const maxCommit = 1024

// commitLinger is how long the writer waits for more saves before it
// commits: a fraction of a disk flush (2-4 ms here), for many more
// records per flush.
const commitLinger = 200 * time.Microsecond

// ErrHistoryClosed is a Save to a closed store.
var ErrHistoryClosed = errors.New("run history is closed")

// ErrHistoryReadOnly is a Save or Prune to a store opened read-only.
var ErrHistoryReadOnly = errors.New("run history is open read-only")

var (
	bucketRuns  = []byte("runs")  // order key -> RunRecord JSON
	bucketIDs   = []byte("ids")   // run id -> order key
	bucketAudit = []byte("audit") // name \x00 order key \x00 block -> AuditRecord JSON
)

// OpenBoltHistory opens (creating it and its directory, unless ReadOnly)
// the history file at path. Close it when done.
func OpenBoltHistory(path string, opts BoltOptions) (*BoltHistory, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultHistoryLockTimeout
	}
	h := &BoltHistory{path: path}
	if opts.ReadOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			h.closed = true
			return h, nil
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("run history %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("run history %s: another bp process holds it (a bp serve, or a long bp run); waited %s: %w", path, opts.LockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("run history %s: %w", path, err)
	}
	h.db = db
	if opts.ReadOnly {
		h.closed = true
		return h, nil
	}
	h.queue = make(chan *pendingSave, maxCommit)
	h.closing = make(chan struct{})
	h.written = make(chan struct{})
	go h.writer()
	return h, nil
}

// Path is the history file.
func (h *BoltHistory) Path() string { return h.path }

// Close waits for the saves already queued to be written, then closes the
// file.
func (h *BoltHistory) Close() error {
	var err error
	h.once.Do(func() {
		h.mu.Lock()
		wasOpen := !h.closed
		h.closed = true
		h.mu.Unlock()
		if wasOpen {
			close(h.closing)
			<-h.written
		}
		if h.db != nil {
			err = h.db.Close()
		}
	})
	return err
}

// pendingSave is one record waiting for the writer.
type pendingSave struct {
	id    string
	key   []byte
	data  []byte
	reads []AuditRecord
	done  chan error
}

// Save records a run and its secret reads; it returns once they are on
// disk, or with the reason they are not.
func (h *BoltHistory) Save(ctx context.Context, rec *RunRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run %s: encoding its record: %w", rec.ID, err)
	}
	p := &pendingSave{id: rec.ID, key: orderKey(rec.Started, rec.ID), data: data, reads: rec.SecretReads, done: make(chan error, 1)}
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		if h.queue == nil {
			return ErrHistoryReadOnly
		}
		return ErrHistoryClosed
	}
	select {
	case h.queue <- p:
		h.mu.RUnlock()
	case <-ctx.Done():
		h.mu.RUnlock()
		return fmt.Errorf("run %s not recorded: %w", rec.ID, ctx.Err())
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The record may still be written; the caller cannot count on it.
		return fmt.Errorf("run %s: gave up waiting for its record to be written: %w", rec.ID, ctx.Err())
	}
}

// writer commits what has queued, one transaction at a time, until Close.
func (h *BoltHistory) writer() {
	defer close(h.written)
	batch := make([]*pendingSave, 0, maxCommit)
	linger := time.NewTimer(commitLinger)
	linger.Stop()
	for {
		batch = batch[:0]
		select {
		case p := <-h.queue:
			batch = append(batch, p)
		case <-h.closing:
			// Close stopped new saves from queueing: write what is left.
			for {
				batch = batch[:0]
			rest:
				for len(batch) < maxCommit {
					select {
					case p := <-h.queue:
						batch = append(batch, p)
					default:
						break rest
					}
				}
				if len(batch) == 0 {
					return
				}
				h.commit(batch)
			}
		}
		// Linger while saves keep coming: the runs that were waiting for
		// the last commit come back at once, and should share the next.
		linger.Reset(commitLinger)
	fill:
		for len(batch) < maxCommit {
			select {
			case p := <-h.queue:
				batch = append(batch, p)
				continue
			default:
			}
			select {
			case p := <-h.queue:
				batch = append(batch, p)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		h.commit(batch)
	}
}

// commit writes a batch in one transaction. When it fails, each record is
// tried on its own, so that one bad record does not fail the others.
func (h *BoltHistory) commit(batch []*pendingSave) {
	err := h.db.Update(func(tx *bolt.Tx) error {
		for _, p := range batch {
			if err := putRun(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, p := range batch {
			h.commit([]*pendingSave{p})
		}
		return
	}
	for _, p := range batch {
		if err != nil {
			p.done <- fmt.Errorf("run %s: writing its record to %s: %w", p.id, h.path, err)
		} else {
			p.done <- nil
		}
	}
}

func putRun(tx *bolt.Tx, p *pendingSave) error {
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
	if old := ids.Get([]byte(p.id)); old != nil && !bytes.Equal(old, p.key) {
		// A run saved again replaces its record.
		if err := deleteRun(runs, ids, audit, old); err != nil {
			return err
		}
	}
	if err := runs.Put(p.key, p.data); err != nil {
		return err
	}
	if err := ids.Put([]byte(p.id), p.key); err != nil {
		return err
	}
	for _, a := range p.reads {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if err := audit.Put(auditKey(a.Secret, p.key, a.Block), b); err != nil {
			return err
		}
	}
	return nil
}

// orderKey sorts runs by start time.
func orderKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func auditKey(secret string, runKey []byte, block string) []byte {
	k := make([]byte, 0, len(secret)+len(runKey)+len(block)+2)
	k = append(append(k, secret...), 0)
	k = append(append(k, runKey...), 0)
	return append(k, block...)
}

// deleteRun removes one run, its id and its audit records.
func deleteRun(runs, ids, audit *bolt.Bucket, key []byte) error {
	data := runs.Get(key)
	if data == nil {
		return nil
	}
	var rec struct {
		ID          string        `json:"id"`
		SecretReads []AuditRecord `json:"secret_reads"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("run history record %x: %w", key, err)
	}
	if audit != nil {
		for _, a := range rec.SecretReads {
			if err := audit.Delete(auditKey(a.Secret, key, a.Block)); err != nil {
				return err
			}
		}
	}
	if ids != nil {
		if cur := ids.Get([]byte(rec.ID)); bytes.Equal(cur, key) {
			if err := ids.Delete([]byte(rec.ID)); err != nil {
				return err
			}
		}
	}
	return runs.Delete(key)
}

// List returns the newest runs first, at most limit (0 for all), without
// their events.
func (h *BoltHistory) List(ctx context.Context, limit int) ([]RunRecord, error) {
	if h.db == nil {
		return nil, nil
	}
	var out []RunRecord
	err := h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			if len(out)%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var rec RunRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("run history record %x: %w", k, err)
			}
			rec.Events, rec.SecretReads = nil, nil
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Get returns one run with its events. id may be a unique prefix.
func (h *BoltHistory) Get(ctx context.Context, id string) (*RunRecord, error) {
	if h.db == nil || id == "" {
		return nil, fmt.Errorf("run %s: %w", id, ErrRunNotFound)
	}
	var rec *RunRecord
	err := h.db.View(func(tx *bolt.Tx) error {
		ids, runs := tx.Bucket(bucketIDs), tx.Bucket(bucketRuns)
		if ids == nil || runs == nil {
			return fmt.Errorf("run %s: %w", id, ErrRunNotFound)
		}
		var key []byte
		c := ids.Cursor()
		for k, v := c.Seek([]byte(id)); k != nil && bytes.HasPrefix(k, []byte(id)); k, v = c.Next() {
			if key != nil {
				return fmt.Errorf("run %s: %w", id, ErrAmbiguousRun)
			}
			key = v
			if string(k) == id {
				break
			}
		}
		data := runs.Get(key)
		if key == nil || data == nil {
			return fmt.Errorf("run %s: %w", id, ErrRunNotFound)
		}
		rec = &RunRecord{}
		return json.Unmarshal(data, rec)
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// pruneChunk bounds the runs one pruning transaction removes, so that
// saves waiting behind it are not held for long.
const pruneChunk = 512

// Prune forgets the oldest runs beyond keep.MaxRuns and those started
// more than keep.MaxAge ago, with their audit records, a chunk per
// transaction.
func (h *BoltHistory) Prune(ctx context.Context, keep Retention) (int, error) {
	if h.db == nil || h.queue == nil {
		return 0, ErrHistoryReadOnly
	}
	if keep.IsZero() {
		return 0, nil
	}
	var cutoff []byte
	if keep.MaxAge > 0 {
		cutoff = orderKey(time.Now().Add(-keep.MaxAge), "")
	}
	excess := 0
	if keep.MaxRuns > 0 {
		// Counted once: saves only add runs newer than those pruned.
		err := h.db.View(func(tx *bolt.Tx) error {
			if runs := tx.Bucket(bucketRuns); runs != nil {
				excess = runs.Stats().KeyN - keep.MaxRuns
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("pruning the run history %s: %w", h.path, err)
		}
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := h.db.Update(func(tx *bolt.Tx) error {
			runs := tx.Bucket(bucketRuns)
			if runs == nil {
				return nil
			}
			ids, audit := tx.Bucket(bucketIDs), tx.Bucket(bucketAudit)
			c := runs.Cursor()
			var doomed [][]byte
			for k, _ := c.First(); k != nil && len(doomed) < pruneChunk; k, _ = c.Next() {
				if len(doomed) >= excess && (cutoff == nil || bytes.Compare(k, cutoff) >= 0) {
					break
				}
				doomed = append(doomed, bytes.Clone(k))
			}
			for _, k := range doomed {
				if err := deleteRun(runs, ids, audit, k); err != nil {
					return err
				}
			}
			n = len(doomed)
			return nil
		})
		total += n
		excess -= n
		if err != nil {
			return total, fmt.Errorf("pruning the run history %s: %w", h.path, err)
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}

// Audit returns the secret reads recorded for a secret (all secrets when
// name is empty), oldest first.
func (h *BoltHistory) Audit(name string) ([]AuditRecord, error) {
	if h.db == nil {
		return nil, nil
	}
	var out []AuditRecord
	err := h.db.View(func(tx *bolt.Tx) error {
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
