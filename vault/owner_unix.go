//go:build unix

package vault

import (
	"fmt"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of st, the file at path, so that a
// vault shared with a service account stays readable by it. Only root may
// give a file away: anyone else gets an error when the owners differ.
func keepOwner(f *os.File, path string, st os.FileInfo) error {
	uid, gid, ok := fileOwner(st)
	if !ok {
		return nil
	}
	fst, err := f.Stat()
	if err != nil {
		return err
	}
	if fuid, fgid, _ := fileOwner(fst); fuid != uid || fgid != gid {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("keeping the owner %d:%d of %s: %w", uid, gid, path, err)
		}
	}
	return nil
}

// fileOwner is the owner and group of the file st describes.
func fileOwner(st os.FileInfo) (uid, gid int, ok bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(sys.Uid), int(sys.Gid), true
}

// makePrivate lets only its owner read and write f: a key file.
func makePrivate(f *os.File) error { return f.Chmod(0o600) }
