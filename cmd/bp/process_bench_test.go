package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkProcess times what a user waits for: a whole `bp run` process,
// beside the interpreter's own start (`python -I -S -c pass`) measured in
// the same run. The Python of the blocks is $BP_PYTHON, else python3 (a
// pyenv shim is resolved once, then taken from bp's cache). Build without
// -race for figures that mean anything:
//
//	go test -run '^$' -bench Process -count 10 ./cmd/bp
func BenchmarkProcess(b *testing.B) {
	home := b.TempDir()
	env := []string{
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"PATH=" + os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0",
	}
	python := os.Getenv("BP_PYTHON")
	if python == "" {
		python = "python3"
	}
	write := func(name, content string) string {
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	var blocks40 strings.Builder
	blocks40.WriteString("blocks:\n")
	for i := 0; i < 40; i++ {
		next := ""
		if i < 39 {
			next = ", outs: {success: b" + strconv.Itoa(i+1) + "}"
		}
		blocks40.WriteString("  b" + strconv.Itoa(i) + ": {type: code, fields: {code: \"set_output(1)\"}" + next + "}\n")
	}
	one := write("one.bp.yaml", "blocks:\n  py: {type: code, fields: {code: \"set_output(0)\"}}\n")
	noop := write("noop.bp.yaml", "blocks:\n  r: {type: returnvalue, fields: {value: 0}}\n")
	forty := write("forty.bp.yaml", blocks40.String())
	run := func(b *testing.B, name string, args ...string) {
		b.Run(name, func(b *testing.B) {
			// Once outside the timing: the interpreter's resolution goes to
			// the cache, as after a user's first run.
			for i := 0; i <= b.N; i++ {
				if i == 1 {
					b.ResetTimer()
				}
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", args, err, out)
				}
			}
		})
	}
	py, err := exec.Command(python, "-I", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		b.Fatal(err)
	}
	run(b, "python-pass", strings.TrimSpace(string(py)), "-I", "-S", "-c", "pass")
	bp := func(path string, extra ...string) []string {
		return append([]string{bpBinary, "run", path, "--no-history", "--python", python}, extra...)
	}
	run(b, "noop", bp(noop)...)
	run(b, "code1", bp(one)...)
	run(b, "code40", bp(forty)...)
	run(b, "code40-runisolation", bp(forty, "--python-isolation", "run")...)
}
