//go:build unix

package vault

import (
	"os"
	"syscall"
)

// fileOwner is the owner and group of the file st describes.
func fileOwner(st os.FileInfo) (uid, gid int, ok bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(sys.Uid), int(sys.Gid), true
}
