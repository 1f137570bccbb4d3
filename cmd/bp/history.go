package main

import (
	"context"
	"os"
	"time"

	"github.com/bprun/bp/runner"
)

// historyPath is --history, else $BP_HISTORY, else the default path.
func historyPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("BP_HISTORY"); p != "" {
		return p, nil
	}
	return runner.DefaultHistoryPath(os.Getenv)
}

// readLockTimeout bounds how long a command that reads history waits for
// a process that holds the file (a bp serve holds it while it serves).
const readLockTimeout = 2 * time.Second

// openHistoryForRead opens the history read-only, for bp runs and bp
// vault audit. A history that does not exist yet is empty.
func openHistoryForRead(flag string) (*runner.BoltHistory, error) {
	path, err := historyPath(flag)
	if err != nil {
		return nil, err
	}
	return runner.OpenBoltHistory(path, runner.BoltOptions{ReadOnly: true, LockTimeout: readLockTimeout})
}

// historyForRun is the history of a command that makes one run (bp run),
// unless --no-history: the file is opened when the run ends, for its
// record only, so that bp runs in parallel do not hold one another for a
// whole run each.
func (f *runFlags) historyForRun() (runner.HistoryStore, error) {
	if f.noHistory {
		return nil, nil
	}
	path, err := historyPath(f.history)
	if err != nil {
		return nil, err
	}
	return openOnSave{path: path}, nil
}

// openOnSave is a HistoryStore that opens its file for each call.
type openOnSave struct{ path string }

func (o openOnSave) Save(ctx context.Context, rec *runner.RunRecord) error {
	h, err := runner.OpenBoltHistory(o.path, runner.BoltOptions{})
	if err != nil {
		return err
	}
	err = h.Save(ctx, rec)
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o openOnSave) read(f func(*runner.BoltHistory) error) error {
	h, err := runner.OpenBoltHistory(o.path, runner.BoltOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer h.Close()
	return f(h)
}

func (o openOnSave) Get(ctx context.Context, id string) (rec *runner.RunRecord, err error) {
	err = o.read(func(h *runner.BoltHistory) error { rec, err = h.Get(ctx, id); return err })
	return rec, err
}

func (o openOnSave) List(ctx context.Context, limit int) (recs []runner.RunRecord, err error) {
	err = o.read(func(h *runner.BoltHistory) error { recs, err = h.List(ctx, limit); return err })
	return recs, err
}

func (o openOnSave) Prune(ctx context.Context, keep runner.Retention) (int, error) {
	h, err := runner.OpenBoltHistory(o.path, runner.BoltOptions{})
	if err != nil {
		return 0, err
	}
	defer h.Close()
	return h.Prune(ctx, keep)
}
