package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// bp --version and bp version print the same: the binary's version, and
// the Go it was built with.
func TestVersion(t *testing.T) {
	e := newBPEnv(t)
	flag, cmd := e.run("", "--version"), e.run("", "version")
	if flag.code != 0 || cmd.code != 0 {
		t.Fatalf("%v\n%v", flag, cmd)
	}
	if flag.stdout != cmd.stdout {
		t.Fatalf("--version and version differ:\n%s\n%s", flag.stdout, cmd.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(cmd.stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "bp ") || len(lines[0]) < 4 {
		t.Errorf("first line %q, want bp VERSION", lines[0])
	}
	if want := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH; lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
}

func TestDescribeBuild(t *testing.T) {
	for _, c := range []struct {
		info debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "9e48de2c"}, {Key: "vcs.time", Value: "2026-04-30T12:00:00Z"}, {Key: "vcs.modified", Value: "false"},
		}}, "bp v1.2.3\nrevision 9e48de2c 2026-04-30T12:00:00Z\ngo1.26.8 darwin/arm64\n"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "9e48de2c"}, {Key: "vcs.modified", Value: "true"},
		}}, "bp (devel)\nrevision 9e48de2c (modified)\ngo1.26.8 darwin/arm64\n"},
		{debug.BuildInfo{GoVersion: "go1.26.8"}, "bp (devel)\ngo1.26.8 darwin/arm64\n"},
	} {
		if got := describeBuild(&c.info, "darwin/arm64"); got != c.want {
			t.Errorf("got\n%swant\n%s", got, c.want)
		}
	}
}
