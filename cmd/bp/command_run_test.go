package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWriterCorpus(t *testing.T) {
	dir := corpus(t)
	env := newBPEnv(t)
	tests := []struct {
		path, key, payload, want string
	}{
		{"tests_backend_testapp", "blueprint2", "", `"987127"`},
		{"tests_e2e_presets_blueprints", "repeat_payload", `{"colour": "blue", "n": [1, 2]}`, `{"colour":"blue","n":[1,2]}`},
		{"tests_e2e_presets_blueprints", "bjhk2qqylt0ijn50", "", `"blue"`},
	}
	for _, tc := range tests {
		args := []string{"run", filepath.Join(dir, tc.path), "--blueprint", tc.key}
		if tc.payload != "" {
			args = append(args, "--payload", tc.payload)
		}
		r := env.run("", args...)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		var got any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%v", err, r)
		}
		compact, _ := json.Marshal(got)
		if string(compact) != tc.want {
			t.Errorf("%s: returned %s, want %s", tc.key, compact, tc.want)
		}
		if !strings.Contains(r.stderr, "returned") {
			t.Errorf("%s: run log on stderr lacks the run's end:\n%s", tc.key, r.stderr)
		}
	}
}

func TestRunJSONLog(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("hello.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: log}}
  log: {type: logmessage, fields: {message: "hi @{payload.name}"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: "@{result}"}}
`)
	r := env.run("", "run", path, "--log", "json", "--payload", `{"name": "Ada"}`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != `"hi Ada"` {
		t.Fatalf("%v", r)
	}
	var kinds []string
	runID := ""
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for _, k := range []string{"time", "run", "event"} {
			if _, ok := e[k]; !ok {
				t.Errorf("log line lacks %s: %s", k, line)
			}
		}
		if runID == "" {
			runID = e["run"].(string)
		} else if e["run"] != runID {
			t.Errorf("run id changed: %s", line)
		}
		kinds = append(kinds, e["event"].(string))
		if e["event"] == "run.finished" && e["status"] != "returned" {
			t.Errorf("run.finished status %v", e["status"])
		}
	}
	want := "run.started block.started block.finished block.started block.output block.finished block.started block.finished run.finished"
	if strings.Join(kinds, " ") != want {
		t.Errorf("events %v\nwant %s", kinds, want)
	}
}

func TestRunExitCodes(t *testing.T) {
	env := newBPEnv(t)
	failing := env.write("fail.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: parse}}
  parse: {type: parsejson, fields: {plainText: "not json"}}
`)
	invalid := env.write("invalid.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: nowhere}}
`)
	secret := env.write("secret.bp.yaml", `
blocks:
  r: {type: returnvalue, fields: {value: "@{vault.NOPE}"}}
`)
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"run failed", []string{"run", failing}, 1, "block parse (parsejson)"},
		{"invalid blueprint", []string{"run", invalid}, 2, `block "nowhere", which does not exist`},
		{"bad payload", []string{"run", failing, "--payload", "{"}, 2, "payload is not valid JSON"},
		{"missing secret", []string{"run", secret}, 3, "vault.NOPE"},
		{"unknown flag", []string{"run", failing, "--nope"}, 2, "unknown flag"},
		{"unknown trigger", []string{"run", failing, "--trigger", "nosuch"}, 2, `no block "nosuch"`},
	}
	for _, tc := range tests {
		r := env.run("", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%s: want exit %d saying %q; got %v", tc.name, tc.code, tc.says, r)
		}
	}
}

func TestDirectoryWithOneInvalidBlueprintRunsTheOthers(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/good.bp.yaml", `blocks: {r: {type: returnvalue, fields: {value: ok}}}`)
	env.write("flows/broken.bp.yaml", "blocks: [unclosed\n")
	env.write("flows/calls_broken.bp.yaml", `
blocks:
  c: {type: runblueprint, fields: {blueprintKey: broken}}
`)
	dir := filepath.Join(env.home, "flows")
	if r := env.run("", "run", dir, "--blueprint", "good"); r.code != 0 || strings.TrimSpace(r.stdout) != `"ok"` {
		t.Fatalf("good: %v", r)
	}
	if r := env.run("", "run", dir, "--blueprint", "broken"); r.code != 2 || !strings.Contains(r.stderr, "broken.bp.yaml:") {
		t.Errorf("broken: %v", r)
	}
	if r := env.run("", "run", dir, "--blueprint", "calls_broken"); r.code != 1 || !strings.Contains(r.stderr, "broken.bp.yaml") {
		t.Errorf("calling broken: %v", r)
	}
}

func TestRunPythonModes(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("py.bp.yaml", `
blocks:
  py: {type: code, fields: {code: "import os\nset_output(os.getpid() != os.getppid())"}, outs: {success: r}}
  r: {type: returnvalue, fields: {value: "@{result}"}}
`)
	for _, mode := range []string{"fork", "fresh"} {
		if r := env.run("", "run", path, "--python-mode", mode); r.code != 0 || strings.TrimSpace(r.stdout) != "true" {
			t.Errorf("%s: %v", mode, r)
		}
	}
	if r := env.run("", "run", path, "--python-mode", "warm"); r.code != 2 {
		t.Errorf("bad mode: %v", r)
	}
}

// runCase is a bp run with extra environment and flags, and the stdout it
// must print.
type runCase struct {
	env  []string
	args []string
	want string
}

func checkRuns(t *testing.T, env *bpEnv, path string, cases []runCase) {
	t.Helper()
	for _, c := range cases {
		r := env.with(c.env...).run("", append([]string{"run", path}, c.args...)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("%v %v: %v", c.env, c.args, r)
		}
	}
}

// Code blocks run without the site module unless --python-site (or
// BP_PYTHON_SITE=1) asks for it.
func TestRunPythonSite(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("site.bp.yaml", `
blocks:
  py: {type: code, fields: {code: "import sys\nset_output('site' in sys.modules)"}, outs: {success: r}}
  r: {type: returnvalue, fields: {value: "@{result}"}}
`)
	checkRuns(t, env, path, []runCase{
		{nil, nil, "false"},
		{nil, []string{"--python-site"}, "true"},
		{[]string{"BP_PYTHON_SITE=1"}, nil, "true"},
		{nil, []string{"--python-site", "--python-mode", "fresh"}, "true"},
	})
}

// --python-preload (or BP_PYTHON_PRELOAD) puts modules in every code
// block's image; a name that is not a module is bad usage.
func TestRunPythonPreload(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("preload.bp.yaml", `
blocks:
  py: {type: code, fields: {code: "import sys\nset_output('decimal' in sys.modules)"}, outs: {success: r}}
  r: {type: returnvalue, fields: {value: "@{result}"}}
`)
	checkRuns(t, env, path, []runCase{
		{nil, nil, "false"},
		{nil, []string{"--python-preload", "decimal,json"}, "true"},
		{[]string{"BP_PYTHON_PRELOAD=json, decimal,"}, nil, "true"},
	})
	if r := env.run("", "run", path, "--python-preload", "not-a-module"); r.code != 2 || !strings.Contains(r.stderr, "not-a-module") {
		t.Errorf("bad module name: %v", r)
	}
	if r := env.run("", "run", path, "--python-preload", "no_such_module_bp"); r.code != 1 || !strings.Contains(r.stderr, "no_such_module_bp") {
		t.Errorf("missing module: %v", r)
	}
}

// A run that completes without a returnvalue prints null: stdout is always
// JSON for a run that did not fail.
func TestRunWithoutReturnValuePrintsNull(t *testing.T) {
	env := newBPEnv(t)
	path := env.write("noret.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: log}}
  log: {type: logmessage, fields: {message: hello}}
`)
	if r := env.run("", "run", path); r.code != 0 || strings.TrimSpace(r.stdout) != "null" {
		t.Fatalf("%v", r)
	}
}
