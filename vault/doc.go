// Package vault is bp's encrypted secret store: one bbolt file holding
// values sealed with AES-256-GCM under a random data key, which a master key
// wraps. It imports nothing else of bp, so any Go program can embed it.
//
// A run opens the vault read-only and reads the secrets it may see:
//
//	path, err := vault.DefaultPath(os.Getenv) // or the --vault flag
//	key, err := vault.ResolveKey(os.Getenv)   // BP_VAULT_KEY, _KEY_FILE, _PASSPHRASE, key file
//	v, err := vault.Open(path, key, vault.Options{ReadOnly: true})
//	defer v.Close()
//	value, err := v.Get("WEATHER_KEY")
//
// (OpenEnv does those three steps.) Read-only opens share the file lock, so
// many runs read at once; a writer (Set, Import, Delete, RotateKey) takes
// the exclusive lock, waiting at most Options.LockTimeout, and then fails
// with ErrLocked naming the process that holds the lock.
//
// # What is guaranteed
//
//   - No value is ever written to the file in plaintext, nor is the data key
//     or the master key; values live in memory only as the []byte Get
//     returns. Errors name the vault file and the secret, never a value.
//   - A wrong master key is ErrWrongKey, detected by a key check value before
//     anything else, and changes nothing in the file.
//   - A value that was modified, moved to another name or another vault, or
//     rolled back to an older genuine ciphertext (even one of a deleted
//     secret) is ErrTampered; wrong plaintext is never returned. Names,
//     versions and times come from a manifest sealed under the data key, so
//     they are authenticated too. See format.go for the layout.
//   - Every change is one bbolt transaction: a process killed at any point
//     leaves the old state or the new one. RotateKey orders its key-file
//     writes so that the key files always lead to the key that opens the
//     vault (see RotateKey).
//   - Close zeroes the data key.
//
// Not guaranteed: replacing the whole file with an older copy of itself is a
// consistent older vault and cannot be told from the file alone; names (not
// values) and value lengths are visible to anyone who can read the file.
package vault
