package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/internal/leaktest"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

// canary is a secret with characters that change under every encoding.
const canary = `c4n4ry/s3cr3t+"q"&<x>`

func assertClean(t *testing.T, where, text string) {
	t.Helper()
	if f, ok := leaktest.Find(text, canary); ok {
		t.Errorf("%s holds the canary (as %q):\n%s", where, f, text)
	}
}

// newVault makes a real vault file holding the canary.
func newVault(t *testing.T) func() (*vault.Vault, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault.db")
	key := vault.GenerateMasterKey()
	v, err := vault.Create(path, key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Set("CANARY", []byte(canary)); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return func() (*vault.Vault, error) { return vault.Open(path, key, vault.Options{ReadOnly: true}) }
}

func load(t testing.TB, files map[string]string) *blueprints.Set {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	set, err := blueprints.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestEveryOutputOfARunIsScrubbed(t *testing.T) {
	set := load(t, map[string]string{
		"leaky.bp.yaml": `
blocks:
  start: {type: apitrigger, outs: {trigger: [log, keep]}}
  log: {type: logmessage, fields: {message: "raw @{vault.CANARY} json @{toJSON(vault.CANARY)} b64 @{toBase64(vault.CANARY)}"}}
  keep: {type: setstate, fields: {element: s, value: "@{vault.CANARY}"}, outs: {success: call}}
  call: {type: runblueprint, fields: {blueprintKey: "@{vault.CANARY}"}, outs: {error: done}}
  done: {type: returnvalue, fields: {value: {msg: "@{message}", url: "https://x/?k=@{urlQuery(vault.CANARY)}", s: "@{s}"}}}
`,
	})
	reg := blocks.Default(blocks.Options{})
	history, err := runner.OpenBoltHistory(filepath.Join(t.TempDir(), "history.db"), runner.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer history.Close()
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), OpenVault: newVault(t), History: history})
	var jsonLog, console bytes.Buffer
	res, err := r.Run(context.Background(), runner.Request{
		Blueprint: "leaky",
		Sinks:     []engine.Sink{runner.NewJSONLog(&jsonLog), runner.NewConsole(&console, false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusReturned {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	ret, _ := json.Marshal(res.Return)
	assertClean(t, "return value", string(ret))
	assertClean(t, "JSON log", jsonLog.String())
	assertClean(t, "console log", console.String())
	if !strings.Contains(jsonLog.String(), "***") || !strings.Contains(string(ret), "***") {
		t.Errorf("the secret was not masked but lost:\n%s\n%s", jsonLog.String(), ret)
	}

	if res.HistoryErr != nil {
		t.Fatal(res.HistoryErr)
	}
	rec, err := history.Get(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(rec)
	assertClean(t, "run history", string(stored))
	if len(rec.Events) < 10 {
		t.Errorf("history kept %d events", len(rec.Events))
	}
	audit, err := history.Audit("CANARY")
	if err != nil {
		t.Fatal(err)
	}
	blocksRead := map[string]bool{}
	for _, a := range audit {
		if a.Run != res.RunID {
			t.Errorf("audit record of another run: %+v", a)
		}
		blocksRead[a.Block] = true
	}
	for _, b := range []string{"log", "keep", "call", "done"} {
		if !blocksRead[b] {
			t.Errorf("audit lacks block %s: %+v", b, audit)
		}
	}
}

func TestFailedRunErrorIsScrubbed(t *testing.T) {
	set := load(t, map[string]string{
		"fails.bp.yaml": `
blocks:
  call: {type: runblueprint, fields: {blueprintKey: "nope-@{vault.CANARY}"}}
`,
	})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), OpenVault: newVault(t)})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "fails"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusFailed || res.Err == nil {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
	assertClean(t, "run error", res.Err.Error())
	if !strings.Contains(res.Err.Error(), "nope-***") {
		t.Errorf("error %q lost its context", res.Err)
	}
}

func TestBlueprintSeesOnlyListedSecrets(t *testing.T) {
	set := load(t, map[string]string{
		"listed.bp.yaml": `
vault: [OTHER]
blocks:
  r: {type: returnvalue, fields: {value: "@{vault.CANARY}"}}
`,
	})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), OpenVault: newVault(t)})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "listed"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "vault.CANARY") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
}

// TestChildBlueprintSeesOnlyItsListedSecrets runs a parent that may read
// every secret (no vault list), so that the canary is loaded into the run,
// and a child that lists only OTHER: the child must not read the canary,
// although the run holds it.
func TestChildBlueprintSeesOnlyItsListedSecrets(t *testing.T) {
	set := load(t, map[string]string{
		"parent.bp.yaml": `
blocks:
  warm: {type: setstate, fields: {element: seen, value: "@{vault.CANARY}"}, outs: {success: call}}
  call: {type: runblueprint, fields: {blueprintKey: child}, outs: {success: done, error: failed}}
  done: {type: returnvalue, fields: {value: "read @{result}"}}
  failed: {type: returnvalue, fields: {value: "refused: @{message}"}}
`,
		"child.bp.yaml": `
vault: [OTHER]
blocks:
  r: {type: returnvalue, fields: {value: "@{vault.CANARY}"}}
`,
	})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, blocks.Default(blocks.Options{})), OpenVault: newVault(t)})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := res.Return.(string)
	if res.Status != engine.StatusReturned || !strings.HasPrefix(got, "refused: ") ||
		!strings.Contains(got, "vault.CANARY") || !strings.Contains(got, "blueprint child does not list it") {
		t.Fatalf("the child read a secret it does not list: status %s, return %q, err %v", res.Status, got, res.Err)
	}
}

// panicky is a block type that panics with the secret in the panic value:
// a bug in a block an embedding program registered.
type panicky struct{}

func (panicky) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "panicky", Fields: []engine.FieldSpec{{Name: "v"}}, Outcomes: []string{"success", "error"}}
}

func (panicky) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, _ := c.String("v")
	panic("cannot handle " + v)
}

func TestPanicInABlockIsScrubbed(t *testing.T) {
	set := load(t, map[string]string{"p.bp.yaml": `
blocks:
  p: {type: panicky, fields: {v: "@{vault.CANARY}"}}
`})
	reg := blocks.Default(blocks.Options{})
	reg.Register(panicky{})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), OpenVault: newVault(t)})
	var log bytes.Buffer
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "p", Sinks: []engine.Sink{runner.NewJSONLog(&log)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "panic in block p (panicky): cannot handle ***") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
	assertClean(t, "run error", res.Err.Error())
	assertClean(t, "JSON log", log.String())
}

// TestSecretSplitAcrossOutputEventsIsMasked prints a secret in two writes
// far apart: the scrubber sees the block's output as one stream.
func TestSecretSplitAcrossOutputEventsIsMasked(t *testing.T) {
	set := load(t, map[string]string{"split.bp.yaml": `
blocks:
  c:
    type: code
    fields:
      code: |
        import sys, time
        s = vault["CANARY"]
        sys.stdout.write("x" * 70000 + s[:9]); sys.stdout.flush(); time.sleep(0.2)
        sys.stdout.write(s[9:] + "\n")
`})
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), OpenVault: newVault(t)})
	var log bytes.Buffer
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "split", Sinks: []engine.Sink{runner.NewJSONLog(&log)}})
	if err != nil || res.Status != engine.StatusCompleted {
		t.Fatalf("%v %+v", err, res)
	}
	for _, piece := range []string{canary[:9], canary[9:]} {
		if strings.Contains(log.String(), piece) {
			t.Errorf("the log holds a piece of the secret, %q", piece)
		}
	}
	if !strings.Contains(log.String(), "***") {
		t.Errorf("the secret was not masked")
	}
}

// twoNotes is a block type that logs two messages, the first ending in the
// start of the canary: a stream scrubber would hold that back and send it
// with the second.
type twoNotes struct{}

func (twoNotes) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{Name: "twonotes", Outcomes: []string{"success", "error"}}
}

func (twoNotes) Run(ctx context.Context, c *engine.Call) engine.Result {
	c.Output("log", "first, ending in "+canary[:6])
	c.Output("log", "second "+canary)
	return engine.Success(nil)
}

// TestLogMessagesStayWhole checks that each log message is one event,
// scrubbed on its own: sinks (the console, golden files) show one line
// each.
func TestLogMessagesStayWhole(t *testing.T) {
	set := load(t, map[string]string{"notes.bp.yaml": `
blocks:
  n: {type: twonotes}
`})
	reg := blocks.Default(blocks.Options{})
	reg.Register(twoNotes{})
	r := runner.New(runner.Options{Library: runner.NewLibrary(set, reg), OpenVault: newVault(t)})
	var got []string
	sink := engine.SinkFunc(func(e *engine.Event) {
		if e.Kind == engine.BlockOutput {
			got = append(got, e.Message)
		}
	})
	res, err := r.Run(context.Background(), runner.Request{Blueprint: "notes", Sinks: []engine.Sink{sink}})
	if err != nil || res.Status != engine.StatusCompleted {
		t.Fatalf("%v %+v", err, res)
	}
	want := []string{"first, ending in " + canary[:6], "second ***"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("log events %q, want %q", got, want)
	}
}
