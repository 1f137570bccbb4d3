package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/runner"
)

// TestHistoryRecordIsBoundedAsAWhole runs a blueprint whose payload,
// output and return value are each larger than a record may be: the
// record stays within runner.MaxRecordBytes, says it was cut, shows where,
// and still ends with run.finished.
func TestHistoryRecordIsBoundedAsAWhole(t *testing.T) {
	set := load(t, map[string]string{"big.bp.yaml": `
blocks:
  start: {type: apitrigger, outs: {trigger: log}}
  log: {type: logmessage, fields: {message: "@{payload.text}"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{payload}"}}
`})
	history := openHistory(t, filepath.Join(t.TempDir(), "history.db"))
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), History: history})
	items := make([]any, 200000)
	for i := range items {
		items[i] = []any{}
	}
	payload := map[string]any{"text": strings.Repeat("é", 1<<20), "items": items}
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "big", Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if res.HistoryErr != nil {
		t.Fatal(res.HistoryErr)
	}
	rec, err := history.Get(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(rec)
	if len(data) > runner.MaxRecordBytes {
		t.Errorf("the record is %d bytes, more than %d", len(data), runner.MaxRecordBytes)
	}
	if !rec.Cut {
		t.Error("the record does not say it was cut")
	}
	if s, _ := rec.Return.(string); !strings.HasPrefix(s, runner.CutMarker) {
		t.Errorf("the return value is not replaced by the cut marker: %.200v", rec.Return)
	}
	if n := len(rec.Events); n == 0 || rec.Events[n-1].Event != "run.finished" || rec.Events[n-1].Status != "returned" {
		t.Fatalf("the record does not end with run.finished: %d events", n)
	}
	cutMessage := false
	for _, e := range rec.Events {
		if e.Event == "block.output" && strings.Contains(e.Message, runner.CutMarker) {
			cutMessage = true
		}
	}
	if !cutMessage {
		t.Error("no logged message shows the cut marker")
	}
}

// failingStore is history on a full disk: reads work, saves fail.
type failingStore struct{ runner.HistoryStore }

func (failingStore) Save(ctx context.Context, rec *runner.RunRecord) error {
	return errors.New("no space left on device")
}

func TestAFailedRecordIsTheCallersError(t *testing.T) {
	set := load(t, map[string]string{"one.bp.yaml": `
blocks:
  done: {type: returnvalue, fields: {value: 1}}
`})
	store := failingStore{openHistory(t, filepath.Join(t.TempDir(), "history.db"))}
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), History: store})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "returned" {
		t.Errorf("status %s: the run itself succeeded", res.Status)
	}
	if res.HistoryErr == nil || !strings.Contains(res.HistoryErr.Error(), res.RunID) || !strings.Contains(res.HistoryErr.Error(), "no space left") {
		t.Fatalf("HistoryErr = %v, want it to name the run and the cause", res.HistoryErr)
	}
}
