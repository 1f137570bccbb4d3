package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/server"
)

func greetBP(word string) string {
	return `
key: greet
blocks:
  done: {type: returnvalue, fields: {value: "` + word + `"}}
`
}

// returnOf runs a blueprint and returns its return value.
func (f *fixture) returnOf(key string) any {
	f.t.Helper()
	evs := parseSSE(f.t.(*testing.T), f.expect(f.do("POST", "/v1/blueprints/"+key+"/runs?wait=1", ""), 200).body)
	return evs[len(evs)-1].data["return"]
}

// eventually polls until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// TestWatchedBlueprintsReload changes a watched blueprint file: a valid
// change is served; an invalid one, or one that does not parse, is
// reported and the version before it keeps serving; a removed file is no
// longer served.
func TestWatchedBlueprintsReload(t *testing.T) {
	f := newFixture(t, map[string]string{"greet.bp.yaml": greetBP("v1")}, func(o *server.Options) { o.WatchDir = watchFixtureDir })
	if got := f.returnOf("greet"); got != "v1" {
		t.Fatalf("before: %v", got)
	}
	f.write("greet.bp.yaml", greetBP("v2"))
	eventually(t, "v2 is served", func() bool { return f.returnOf("greet") == "v2" })

	for i, bad := range []string{
		strings.Replace(greetBP("v3"), "returnvalue", "nosuchtype", 1), // does not validate
		"key: greet\nblocks: [unclosed\n",                              // does not parse
	} {
		f.write("greet.bp.yaml", bad)
		eventually(t, "the invalid file is reported", func() bool {
			return metric(f.scrape(), "bp_blueprint_reloads_total", map[string]string{"result": "invalid"}) >= float64(i+1)
		})
		if got := f.returnOf("greet"); got != "v2" {
			t.Errorf("after invalid file %d: %v, want v2 still", i, got)
		}
		list := f.expect(f.do("GET", "/v1/blueprints", ""), 200).json(t)["blueprints"].([]any)
		info := list[0].(map[string]any)
		if info["key"] != "greet" || info["valid"] != true || info["reload_error"] == nil {
			t.Errorf("listing after invalid file %d: %v", i, info)
		}
		if n := metric(f.scrape(), "bp_blueprints_invalid", nil); n != 1 {
			t.Errorf("bp_blueprints_invalid = %v", n)
		}
	}
	if !strings.Contains(f.log.String(), "previous version keeps serving") {
		t.Errorf("the log does not report the kept version:\n%s", f.log.String())
	}
	f.write("greet.bp.yaml", greetBP("v4"))
	eventually(t, "v4 is served", func() bool { return f.returnOf("greet") == "v4" })
	if err := os.Remove(filepath.Join(f.dir, "greet.bp.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a removed blueprint is gone", func() bool {
		return f.do("POST", "/v1/blueprints/greet/runs", "").status == 404
	})
}

// TestARunFinishesOnItsVersion reloads while a run waits: the run, and
// the blueprint it calls after the reload, stay on the version it started
// with; the next run has the new one.
func TestARunFinishesOnItsVersion(t *testing.T) {
	outer := `
key: outer
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call: {type: httprequest, fields: {url: "@{payload.url}", timeout: 20s}, outs: {success: inner}}
  inner: {type: runblueprint, fields: {blueprintKey: greet}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`
	f := newFixture(t, map[string]string{"outer.bp.yaml": outer, "greet.bp.yaml": greetBP("v1")}, nil)
	g := newGate(t)
	id := f.expect(f.do("POST", "/v1/blueprints/outer/runs", `{"url": "`+g.url+`"}`), 202).json(t)["run"].(string)
	<-g.called
	f.write("greet.bp.yaml", greetBP("v2"))
	if err := f.api.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := f.returnOf("greet"); got != "v2" {
		t.Fatalf("after the reload: %v", got)
	}
	g.release()
	if m := f.waitRun(id); m["return"] != "v1" {
		t.Errorf("the run that started before the reload returned %v, want v1", m["return"])
	}
}
