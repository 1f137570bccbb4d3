package vault

import "errors"

// Sentinel errors. Every error this package returns wraps at most one of them,
// so callers (the CLI maps all of them to exit code 3) can tell problems apart
// with errors.Is. Messages name the vault file and the secret, never a value.
var (
	// ErrWrongKey means the master key does not open this vault: the key
	// check value stored in the file does not match the key given. Nothing
	// was changed.
	ErrWrongKey = errors.New("wrong master key")

	// ErrTampered means a record failed authentication although the key is
	// right: a value was modified, moved to another name, or rolled back to
	// an older ciphertext. No plaintext is returned in that case.
	ErrTampered = errors.New("fails authentication (tampered, moved or rolled back)")

	// ErrNotVault means the file is not a bp vault, is corrupt, or was
	// written by a newer bp with a format this one does not know.
	ErrNotVault = errors.New("not a bp vault, or corrupt")

	// ErrLocked means another process held the vault's file lock for longer
	// than Options.LockTimeout.
	ErrLocked = errors.New("vault is locked by another process")

	// ErrNotFound means the vault has no secret of that name.
	ErrNotFound = errors.New("secret not found")

	// ErrInvalidName means a secret name is not [A-Za-z_][A-Za-z0-9_]*.
	ErrInvalidName = errors.New("invalid secret name: want [A-Za-z_][A-Za-z0-9_]*")

	// ErrNoKey means no usable master key was found (see ResolveKey): none
	// is set, or the one set cannot be read or decoded.
	ErrNoKey = errors.New("no usable vault master key")

	// ErrReadOnly means a change was attempted on a vault opened read-only.
	ErrReadOnly = errors.New("vault is open read-only")

	// ErrClosed means the Vault was used after Close.
	ErrClosed = errors.New("vault is closed")
)
