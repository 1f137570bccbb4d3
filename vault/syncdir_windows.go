//go:build windows

package vault

// syncDir does nothing: Windows cannot flush a folder (FlushFileBuffers
// refuses a directory handle); a rename's durability is left to NTFS's
// metadata journal.
func syncDir(string) error { return nil }
