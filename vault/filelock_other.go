//go:build !unix && !windows

package vault

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// lockFile fails: this system has no file locks bp knows, and a list of
// vaults edited without one may lose a line.
func lockFile(*os.File) error {
	return fmt.Errorf("no file locks on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
