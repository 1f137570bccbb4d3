package vault

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockHolders names the processes holding a flock on path, from
// /proc/locks (lines like "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF",
// with major:minor in hex and the inode in decimal; "->" lines are waiters
// and are skipped). It returns "" when it cannot tell.
func lockHolders(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ""
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer f.Close()
	dev := uint64(st.Dev) //nolint:unconvert // Dev's type differs between architectures
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), st.Ino)
	var holders []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil {
			continue
		}
		kind := "read"
		if fields[3] == "WRITE" {
			kind = "write"
		}
		name := "unknown"
		if pid == os.Getpid() {
			name = "this process"
		} else if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
			name = strings.TrimSpace(string(b))
		}
		holders = append(holders, fmt.Sprintf("pid %d (%s) holds a %s lock", pid, name, kind))
	}
	if len(holders) > 4 {
		holders = append(holders[:4], fmt.Sprintf("and %d more", len(holders)-4))
	}
	return strings.Join(holders, ", ")
}
