package vault

import "fmt"

// ValidName reports whether name is a valid secret name:
// [A-Za-z_][A-Za-z0-9_]*. Names are restricted so they can be written as
// @{vault.NAME} in templates and as keys of a .env file without quoting.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkName returns nil for a valid name, else an error wrapping
// ErrInvalidName. It does not echo the name: a user who typed a value where a
// name belongs (bp vault get sk-live-...) must not see it printed in a log;
// the position of the first bad character is enough to fix a typo.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty secret name: %w", ErrInvalidName)
	}
	if ValidName(name) {
		return nil
	}
	for i := 0; i < len(name); i++ {
		if !ValidName(name[:i+1]) {
			c := name[i]
			if c >= 0x21 && c < 0x7f && !('0' <= c && c <= '9') {
				return fmt.Errorf("secret name has %q at byte %d: %w", string(c), i+1, ErrInvalidName)
			}
			return fmt.Errorf("secret name has a bad byte at %d: %w", i+1, ErrInvalidName)
		}
	}
	return ErrInvalidName
}
