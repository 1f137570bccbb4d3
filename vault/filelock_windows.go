//go:build windows

package vault

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile waits for an exclusive lock on f's first byte (LockFileEx), held
// until f is closed. The lock belongs to the handle, so two opens in one
// process exclude each other as two processes do.
func lockFile(f *os.File) error {
	var whole windows.Overlapped // offset 0
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &whole)
}
