package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Environment variables read by DefaultPath and ResolveKey.
const (
	EnvVault      = "BP_VAULT"            // vault file path
	EnvKey        = "BP_VAULT_KEY"        // 32 bytes, base64
	EnvKeyFile    = "BP_VAULT_KEY_FILE"   // file holding a base64 key
	EnvPassphrase = "BP_VAULT_PASSPHRASE" // stretched with argon2id
)

// DefaultPath returns the vault path from the environment: BP_VAULT, else
// $XDG_DATA_HOME/bp/vault.db, else ~/.local/share/bp/vault.db. A --vault
// flag, where a command has one, overrides it. env is os.Getenv in
// production and a map lookup in tests.
func DefaultPath(env func(string) string) (string, error) {
	if p := env(EnvVault); p != "" {
		return p, nil
	}
	return xdgPath(env, "XDG_DATA_HOME", ".local/share", "vault.db")
}

// DefaultKeyFile returns $XDG_CONFIG_HOME/bp/vault.key, else
// ~/.config/bp/vault.key: the key file 'bp vault init' creates.
func DefaultKeyFile(env func(string) string) (string, error) {
	return xdgPath(env, "XDG_CONFIG_HOME", ".config", "vault.key")
}

// xdgPath follows the XDG base directory rules: a relative XDG_* value is
// ignored. The home directory is HOME, else USERPROFILE (Windows sets
// that one), so that bp's files are in the same place on every system.
func xdgPath(env func(string) string, xdgVar, homeRel, file string) (string, error) {
	if d := env(xdgVar); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "bp", file), nil
	}
	home := env("HOME")
	if home == "" {
		home = env("USERPROFILE")
	}
	if home == "" {
		return "", fmt.Errorf("neither %s nor HOME (nor USERPROFILE) is set: cannot place bp's %s", xdgVar, file)
	}
	return filepath.Join(home, homeRel, "bp", file), nil
}

// ResolveKey finds the master key, first found: BP_VAULT_KEY (base64),
// BP_VAULT_KEY_FILE, BP_VAULT_PASSPHRASE, else the default key file
// (DefaultKeyFile). It returns ErrNoKey when there is none. The CLI and the
// runner both call it, so they always agree on the key.
func ResolveKey(env func(string) string) (MasterKey, error) {
	if s := env(EnvKey); s != "" {
		k, err := ParseKey([]byte(s))
		if err != nil {
			return MasterKey{}, fmt.Errorf("%s: %w: %w", EnvKey, err, ErrNoKey)
		}
		return k.WithSource(EnvKey), nil
	}
	if f := env(EnvKeyFile); f != "" {
		k, err := ReadKeyFile(f)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%s: %w: %w", EnvKeyFile, err, ErrNoKey)
		}
		return k, nil
	}
	if p := env(EnvPassphrase); p != "" {
		return PassphraseKey([]byte(p)).WithSource(EnvPassphrase), nil
	}
	f, err := DefaultKeyFile(env)
	if err != nil {
		return MasterKey{}, fmt.Errorf("%w (%v)", ErrNoKey, err)
	}
	k, err := ReadKeyFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return MasterKey{}, fmt.Errorf("%w: set %s, %s or %s, or run 'bp vault init' to create %s", ErrNoKey, EnvKey, EnvKeyFile, EnvPassphrase, f)
	}
	if err != nil {
		return MasterKey{}, fmt.Errorf("%w: %w", err, ErrNoKey)
	}
	return k, nil
}

// ReadKeyFile reads a key file (base64 of 32 bytes). The key remembers the
// file, so Open can fall back to its pending key (see RotateKey).
func ReadKeyFile(path string) (MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKey{}, fmt.Errorf("key file %s: %w", path, err)
	}
	defer clear(b)
	k, err := ParseKey(b)
	if err != nil {
		return MasterKey{}, fmt.Errorf("key file %s: %w", path, err)
	}
	k.source = "key file " + path
	k.file = path
	return k, nil
}

// WriteKeyFile writes key to a new key file at path (mode 0600, parent
// directories 0700). It never replaces an existing file: that may be the
// only key to a vault. The file appears complete or not at all.
func WriteKeyFile(path string, key MasterKey) error {
	if key.raw == nil {
		return fmt.Errorf("key file %s: a passphrase is not written to a file", path)
	}
	return writeFileAtomic(path, key.Encode(), false)
}

// pendingKeyPath is where RotateKey puts the new key before its
// transaction commits.
func pendingKeyPath(keyFile string) string { return keyFile + ".pending" }

// installPendingKey moves the pending key over the key file. rename(2) is
// atomic, so the key file holds the old or the new key, never neither.
func installPendingKey(keyFile string) error {
	if err := os.Rename(pendingKeyPath(keyFile), keyFile); err != nil {
		return err
	}
	return syncDir(filepath.Dir(keyFile))
}

// writeFileAtomic writes data to path through a synced temporary file in the
// same directory, then renames it into place (replace) or hard-links it
// (!replace, failing with fs.ErrExist if path exists), and syncs the
// directory so the new name survives a power cut.
func writeFileAtomic(path string, data []byte, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after a rename or link this removes nothing or the extra name
	if err := makePrivate(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if replace {
		err = os.Rename(name, path)
	} else {
		err = os.Link(name, path)
	}
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	return syncDir(dir)
}
