package runner_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// TestHistoryMasksAValueMaskedLaterInTheRun prints a value, and only then
// a later block masks it (a token found in a response, say): the events
// already recorded hold it raw, and the saved history must not.
func TestHistoryMasksAValueMaskedLaterInTheRun(t *testing.T) {
	const token = "tk-5Qz81mWv0pLx"
	set := load(t, map[string]string{"late.bp.yaml": `
blocks:
  keep: {type: setstate, fields: {element: tok, value: "` + token + `"}, outs: {success: log}}
  log: {type: logmessage, fields: {message: "the token is @{state.tok}"}, outs: {success: hide}}
  hide: {type: code, fields: {code: "mask(state['tok'])"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{state.tok}"}}
`})
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	history := openHistory(t, filepath.Join(t.TempDir(), "history.db"))
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), History: history})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "late"})
	if err != nil || res.Status != engine.StatusReturned || res.HistoryErr != nil {
		t.Fatalf("%v %+v", err, res)
	}
	if res.Return != "***" {
		t.Fatalf("return %v: the block did not mask the token", res.Return)
	}
	rec, err := history.Get(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), token) {
		t.Errorf("the history keeps a value masked later in the run:\n%s", stored)
	}
	// Both the log line and the setstate result were recorded before the
	// mask, and are masked now.
	var logged, result bool
	for _, e := range rec.Events {
		logged = logged || e.Block == "log" && e.Message == "the token is ***"
		b, _ := json.Marshal(e.Result)
		result = result || e.Block == "keep" && e.Event == string(engine.BlockFinished) && strings.Contains(string(b), "***")
	}
	if !logged || !result {
		t.Errorf("log line masked %v, setstate result masked %v:\n%s", logged, result, stored)
	}
}
