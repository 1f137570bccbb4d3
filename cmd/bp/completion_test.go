package main

import (
	"strings"
	"testing"
)

// completions are the words 'bp __complete ARGS...' offers, without the
// directive line.
func completions(t *testing.T, e *bpEnv, args ...string) []string {
	t.Helper()
	r := e.run("", append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("no directive line: %v", r)
	}
	return lines[:len(lines)-1]
}

func TestCompletionOfBlueprintKeysAndTriggers(t *testing.T) {
	e := newBPEnv(t)
	dir := e.write("flows/weather.bp.yaml", `
blocks:
  start: {type: apitrigger, outs: {trigger: done}}
  nightly: {type: crontrigger, outs: {trigger: done}}
  done: {type: returnvalue, fields: {value: 1}}
`)
	e.write("flows/wind.bp.yaml", "blocks:\n  go: {type: apitrigger}\n")
	e.write("flows/other.bp.yaml", "blocks:\n  go: {type: apitrigger}\n")
	folder := strings.TrimSuffix(dir, "/weather.bp.yaml")
	if got := strings.Join(completions(t, e, "run", folder, "--blueprint", "w"), " "); got != "weather wind" {
		t.Errorf("--blueprint w: %q", got)
	}
	if got := strings.Join(completions(t, e, "run", folder, "--blueprint", "weather", "--trigger", ""), " "); got != "nightly start" {
		t.Errorf("--trigger: %q", got)
	}
	if got := strings.Join(completions(t, e, "run", dir, "--trigger", "s"), " "); got != "start" {
		t.Errorf("--trigger s of the only blueprint: %q", got)
	}
	if got := completions(t, e, "run", e.home+"/nothing-here", "--trigger", ""); len(got) != 0 {
		t.Errorf("--trigger of a missing file: %q", got)
	}
}

// Secret names complete, and never a value; without a vault, nothing does.
func TestCompletionOfSecretNames(t *testing.T) {
	e := newBPEnv(t)
	if got := completions(t, e, "vault", "get", ""); len(got) != 0 {
		t.Errorf("no vault: %q", got)
	}
	if r := e.run("", "vault", "init"); r.code != 0 {
		t.Fatal(r)
	}
	for _, name := range []string{"WEATHER_KEY", "WIND_KEY", "DB_PASS"} {
		if r := e.run("value-of-"+name, "vault", "set", name); r.code != 0 {
			t.Fatal(r)
		}
	}
	for _, cmd := range []string{"get", "rm"} {
		r := e.run("", "__complete", "vault", cmd, "W")
		if strings.Contains(r.stdout+r.stderr, "value-of-") {
			t.Fatalf("a value in the completions:\n%v", r)
		}
		if got := strings.Join(completions(t, e, "vault", cmd, "W"), " "); got != "WEATHER_KEY WIND_KEY" {
			t.Errorf("vault %s W: %q", cmd, got)
		}
	}
	if got := completions(t, e, "vault", "get", "WEATHER_KEY", ""); len(got) != 0 {
		t.Errorf("a second NAME: %q", got)
	}
}

func TestColor(t *testing.T) {
	e := newBPEnv(t)
	path := e.write("c.bp.yaml", "blocks:\n  start: {type: apitrigger, outs: {trigger: done}}\n  done: {type: returnvalue, fields: {value: 1}}\n")
	for _, c := range []struct {
		env   []string
		args  []string
		color bool
	}{
		{nil, nil, false}, // not a terminal
		{nil, []string{"--color", "always"}, true},
		{[]string{"NO_COLOR=1"}, []string{"--color", "always"}, true}, // the flag says more than the environment
		{nil, []string{"--color", "never"}, false},
	} {
		r := e.with(c.env...).run("", append([]string{"run", path, "--no-history"}, c.args...)...)
		if r.code != 0 {
			t.Fatal(r)
		}
		if got := strings.Contains(r.stderr, "\x1b["); got != c.color {
			t.Errorf("%v %v: color %v, want %v\n%s", c.env, c.args, got, c.color, r.stderr)
		}
	}
	if r := e.run("", "run", path, "--color", "sometimes"); r.code != exitUsage || !strings.Contains(r.stderr, "auto, always or never") {
		t.Errorf("--color sometimes: %v", r)
	}
}

func TestColorWanted(t *testing.T) {
	env := func(vars ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(vars); i += 2 {
				if vars[i] == k {
					return vars[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		mode     string
		env      func(string) string
		terminal bool
		want     bool
	}{
		{"auto", env(), true, true},
		{"auto", env(), false, false},
		{"auto", env("NO_COLOR", "1"), true, false},
		{"auto", env("NO_COLOR", ""), true, true}, // set but empty: as if unset
		{"auto", env("TERM", "dumb"), true, false},
		{"always", env("NO_COLOR", "1"), false, true},
		{"never", env(), true, false},
	} {
		if got := colorWanted(c.mode, c.env, c.terminal); got != c.want {
			t.Errorf("%s terminal=%v NO_COLOR=%q TERM=%q: %v, want %v", c.mode, c.terminal, c.env("NO_COLOR"), c.env("TERM"), got, c.want)
		}
	}
}
