//go:build !windows

package vault

import "os"

// syncDir flushes dir's entries, so that a file renamed or linked into it
// survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
