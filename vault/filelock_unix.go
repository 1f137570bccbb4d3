//go:build unix

package vault

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile waits for an exclusive flock on f, held until f is closed. A
// flock belongs to the open file, so two opens in one process exclude each
// other as two processes do.
func lockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}
