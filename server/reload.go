package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadSettle is how long the watcher waits after a change for more:
// an editor's save is often several writes, a rename, or a truncate and
// a write.
const reloadSettle = 100 * time.Millisecond

// Reload loads the blueprints again (Options.LoadBlueprints) and replaces
// the library's, each compiled and validated first: one that does not
// load or validate keeps its previous version, and is reported in the log,
// the metrics and GET /v1/blueprints. Runs in progress finish on the
// version they started with. bp serve calls it on SIGHUP; the watcher of
// Options.WatchDir calls it when a file changes.
func (s *Server) Reload() error {
	if s.opts.LoadBlueprints == nil || s.lib == nil {
		return errors.New("this server cannot reload its blueprints")
	}
	set, err := s.opts.LoadBlueprints()
	if err != nil {
		s.metrics.reloads.WithLabelValues("failed").Inc()
		s.warn("blueprints not reloaded: the previous ones keep serving", slog.Any("error", err))
		return err
	}
	report := s.lib.Reload(set)
	s.metrics.invalid.Set(float64(len(report.Rejected) + report.Invalid))
	if len(report.Rejected) == 0 && report.Invalid == 0 {
		s.metrics.reloads.WithLabelValues("ok").Inc()
		s.log.Info("blueprints reloaded", slog.Int("blueprints", report.Blueprints))
		return nil
	}
	s.metrics.reloads.WithLabelValues("invalid").Inc()
	for key, why := range report.Rejected {
		s.warn("blueprint not reloaded: its previous version keeps serving", slog.String("blueprint", key), slog.Any("error", why))
	}
	s.warn("blueprints reloaded with problems", slog.Int("blueprints", report.Blueprints),
		slog.Int("kept_previous", len(report.Rejected)), slog.Int("invalid", report.Invalid))
	return nil
}

// watch reloads the blueprints when a file under dir changes, until ctx
// ends.
func (s *Server) watch(ctx context.Context, dir string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	root := dir
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		root = filepath.Dir(dir) // a single file: watch its directory
	}
	if err := addTree(w, root); err != nil {
		w.Close()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer w.Close()
		settle := time.NewTimer(time.Hour)
		settle.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
						_ = addTree(w, ev.Name)
					}
				}
				settle.Reset(reloadSettle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.warn("watching the blueprints", slog.Any("error", err))
			case <-settle.C:
				_ = s.Reload()
			}
		}
	}()
	return nil
}

// addTree watches a directory and those below it that a load reads
// (hidden ones other than .wf, testdata and node_modules are skipped, as
// blueprints.Load skips them).
func addTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") && name != ".wf") {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}
