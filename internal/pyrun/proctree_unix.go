//go:build unix && !linux

package pyrun

// killTree kills pid's process group and pid: without /proc's children
// files, descendants that left the group cannot be found.
func killTree(pid int) { killGroup(pid) }

func isZombie(pid int) bool { return false }
