package runner

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkHistorySave saves the record of a 3-block run from 32
// goroutines at once, as a busy server does: BoltHistory's group commit
// (one fsync for what queued), against the obvious alternatives on the
// same file settings: one transaction per run (one fsync each), and
// bbolt's Batch (which waits up to 10 ms to fill a transaction).
func BenchmarkHistorySave(b *testing.B) {
	rec := benchRecord()
	b.Run("impl=group", func(b *testing.B) {
		h, err := OpenBoltHistory(filepath.Join(b.TempDir(), "h.db"), BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		benchSaves(b, rec, func(r *RunRecord) error { return h.Save(context.Background(), r) })
	})
	for _, impl := range []string{"update", "batch"} {
		b.Run("impl="+impl, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "h.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			write := db.Update
			if impl == "batch" {
				write = db.Batch
			}
			benchSaves(b, rec, func(r *RunRecord) error {
				data, err := json.Marshal(r)
				if err != nil {
					return err
				}
				p := &pendingSave{id: r.ID, key: orderKey(r.Started, r.ID), data: data}
				return write(func(tx *bolt.Tx) error { return putRun(tx, p) })
			})
		})
	}
}

func benchSaves(b *testing.B, rec RunRecord, save func(*RunRecord) error) {
	var n atomic.Int64
	b.SetParallelism(16) // 32 savers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := rec
			r.ID = "run-" + time.Now().String() + "-" + string(rune('a'+n.Add(1)%26))
			r.ID += json.Number(rune(n.Load())).String()
			if err := save(&r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchRecord is the record of a setstate → ifelse → returnvalue run.
func benchRecord() RunRecord {
	ms := 0.01
	ev := func(kind, block, typ string, result any) EventJSON {
		return EventJSON{Time: time.Now(), Run: "r", Event: kind, Blueprint: "three", Block: block, Type: typ, Status: "succeeded", Result: result, DurationMS: &ms}
	}
	return RunRecord{
		Blueprint: "three", Status: "returned", Started: time.Now(), DurationMS: 0.2, Return: 1.0, HasReturn: true,
		Events: []EventJSON{
			ev("run.started", "", "", nil),
			ev("block.started", "start", "apitrigger", nil), ev("block.finished", "start", "apitrigger", map[string]any{"n": 1.0}),
			ev("block.started", "keep", "setstate", nil), ev("block.finished", "keep", "setstate", 1.0),
			ev("block.started", "check", "ifelse", nil), ev("block.finished", "check", "ifelse", true),
			ev("block.started", "done", "returnvalue", nil), ev("block.finished", "done", "returnvalue", 1.0),
			ev("run.finished", "", "", 1.0),
		},
	}
}
