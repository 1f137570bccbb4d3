package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bprun/bp/server"
)

// serveTokenFile is where bp serve keeps the token it makes when none is
// configured: $XDG_CONFIG_HOME/bp/serve-token, else ~/.config/bp/serve-token.
func serveTokenFile() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "bp", "serve-token"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: cannot place bp serve's token file")
	}
	return filepath.Join(home, ".config", "bp", "serve-token"), nil
}

// serveToken is the token bp serve requires: $BP_SERVER_TOKEN, else the
// one in the token file, made (32 random bytes, hex, mode 0600 in a 0700
// directory) when there is none. Without a token any local user could
// start runs and change the vault through a loopback address; with one
// in a file only its owner can read, only that user can, as Jupyter does.
// file is the token file when the token came from one.
func serveToken(path string) (token, file string, made bool, err error) {
	if t := os.Getenv(server.TokenEnv); t != "" {
		return t, "", false, nil
	}
	if path == "" {
		if path, err = serveTokenFile(); err != nil {
			return "", "", false, err
		}
	}
	if data, err := readPrivateFile(path); err == nil {
		if t := strings.TrimSpace(string(data)); t != "" {
			return t, path, false, nil
		}
		return "", "", false, fmt.Errorf("token file %s is empty: remove it, and bp serve makes a new one", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", false, err
	}
	t := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", false, fmt.Errorf("token file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", false, fmt.Errorf("token file: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		return "", "", false, fmt.Errorf("token file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", "", false, fmt.Errorf("token file %s: %w", path, err)
	}
	return t, path, true, nil
}

// readPrivateFile reads a file that only its owner may read or change.
func readPrivateFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token file %s has mode %v: other users may read it; chmod 600 it, or remove it for a new one", path, st.Mode().Perm())
	}
	return os.ReadFile(path)
}
