package pyrun

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// killTree kills what a block started, then the block: pid's descendants,
// pass after pass until none is alive, then pid's process group and pid.
// A block's process is a child subreaper (harness.py), so while it lives
// everything it started stays below it, however it detached (setsid, a
// double fork): killing it first would hand them to init.
func killTree(pid int) {
	if pid <= 0 {
		return
	}
	// A killed process can no longer fork, so each pass finds only what
	// was forked before the previous one's signals.
	for range 100 {
		kids := liveDescendants(pid)
		if len(kids) == 0 {
			break
		}
		for _, k := range kids {
			_ = unix.Kill(k, unix.SIGKILL)
		}
	}
	killGroup(pid)
}

// liveDescendants lists pid's descendants that have not exited.
func liveDescendants(pid int) []int {
	var out []int
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range childrenOf(p) {
			if !isZombie(c) {
				out = append(out, c)
				stack = append(stack, c)
			}
		}
	}
	return out
}

// childrenOf lists pid's children, from each of its threads' /proc
// children file.
func childrenOf(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// isZombie reports whether pid has exited but is not reaped yet.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}
