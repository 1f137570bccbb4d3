package vault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// One key file can open several vaults: the default key file is every
// vault's unless the environment names another, so 'bp vault init --vault
// P' beside an existing vault shares its key. Rewriting the key file for
// one of them (rotate-key) would lock the others out. So bp notes, beside
// the key file, the vaults it has created or opened to change with it
// (not a run's read-only open): KEYFILE.vaults, one
// absolute path per line (paths, never a key), and rotate-key asks
// SharedKeyFile before it rewrites a key file.

func keyUsersPath(keyFile string) string { return keyFile + ".vaults" }

// canonical is path made absolute, through symlinks where it exists.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// KeyUsers returns the vaults noted as opened with keyFile.
func KeyUsers(keyFile string) ([]string, error) {
	data, err := os.ReadFile(keyUsersPath(keyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p := sc.Text(); p != "" && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths, sc.Err()
}

// RecordKeyUser notes that the vault at vaultPath opens with keyFile.
func RecordKeyUser(keyFile, vaultPath string) error {
	vaultPath = canonical(vaultPath)
	if users, err := KeyUsers(keyFile); err == nil && slices.Contains(users, vaultPath) {
		return nil // the common case, without the lock
	}
	unlock, err := lockKeyUsers(keyFile)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := KeyUsers(keyFile)
	if err != nil {
		return err
	}
	if slices.Contains(users, vaultPath) {
		return nil
	}
	f, err := os.OpenFile(keyUsersPath(keyFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(vaultPath + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ForgetKeyUser removes vaultPath from keyFile's list.
func ForgetKeyUser(keyFile, vaultPath string) error {
	vaultPath = canonical(vaultPath)
	unlock, err := lockKeyUsers(keyFile)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := KeyUsers(keyFile)
	if err != nil || !slices.Contains(users, vaultPath) {
		return err
	}
	var b bytes.Buffer
	for _, p := range users {
		if p != vaultPath {
			b.WriteString(p + "\n")
		}
	}
	return writeFileAtomic(keyUsersPath(keyFile), b.Bytes(), true)
}

// SharedKeyFile returns the other vaults that key, read from keyFile,
// still opens (or that are locked, so that it cannot tell): the vaults
// that rewriting keyFile for vaultPath would lock out. Vaults noted for
// the key file that are gone, or that another key now opens, are
// forgotten.
func SharedKeyFile(keyFile, vaultPath string, key MasterKey, opts Options) ([]string, error) {
	users, err := KeyUsers(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key file %s: its list of vaults: %w", keyFile, err)
	}
	self := canonical(vaultPath)
	var shared []string
	for _, p := range users {
		if p == self {
			continue
		}
		opts.ReadOnly = true
		v, err := Open(p, key, opts)
		switch {
		case err == nil:
			v.Close()
			shared = append(shared, p)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotVault), errors.Is(err, ErrWrongKey):
			_ = ForgetKeyUser(keyFile, p) // not this key file's any more
		default: // locked, unreadable: it cannot tell, so it may be
			shared = append(shared, p)
		}
	}
	return shared, nil
}
