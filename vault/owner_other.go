//go:build !unix && !windows

package vault

import "os"

// keepOwner: files have no owner bp knows how to read here.
func keepOwner(*os.File, string, os.FileInfo) error { return nil }

// makePrivate: the mode bits are all this system has.
func makePrivate(f *os.File) error { return f.Chmod(0o600) }
