//go:build !linux

package sandbox

import (
	"fmt"
	"runtime"
)

// New makes a sandbox that starts processes unconfined: bp confines
// processes only on Linux. In ModeRequire it fails, wrapping
// ErrUnavailable.
func New(p Policy, mode Mode) (*Sandbox, error) {
	reason := "processes cannot be confined on " + runtime.GOOS
	if mode == ModeOff {
		reason = "the sandbox is turned off"
	} else if mode == ModeRequire {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	return &Sandbox{status: Status{Reason: reason}}, nil
}

// ProtectSelf does nothing outside Linux.
func ProtectSelf() error { return nil }
