package vault

import (
	"fmt"
	"time"
)

// lockedError says that the vault's lock was not free within timeout, and
// who holds it when the OS can tell (lockHolders).
func lockedError(path string, readOnly bool, timeout time.Duration) error {
	want := "the exclusive (write) lock"
	if readOnly {
		want = "a shared (read) lock"
	}
	who := lockHolders(path)
	if who == "" {
		who = "another process holds its lock (a 'bp run' reading it, or a 'bp vault' command changing it)"
	}
	return fmt.Errorf("vault %s: could not get %s within %s: %s: %w", path, want, timeout, who, ErrLocked)
}
