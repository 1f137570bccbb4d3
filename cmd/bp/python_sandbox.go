package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bprun/bp/internal/sandbox"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

// sandboxFlags are the flags that confine code blocks.
type sandboxFlags struct {
	mode       string
	allowRead  []string
	allowWrite []string
	memory     string
}

// sandboxOptions reads the flags, else their environment variables.
func (f *runFlags) sandboxMode() (sandbox.Mode, error) {
	s := f.sandbox.mode
	if s == "" {
		s = os.Getenv("BP_PYTHON_SANDBOX")
	}
	return sandbox.ParseMode(s)
}

func (f *runFlags) pythonMemory() (int64, error) {
	s := f.sandbox.memory
	if s == "" {
		s = os.Getenv("BP_PYTHON_MEMORY")
	}
	if s == "" {
		return 0, nil // pyrun's default
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("python memory: %w", err)
	}
	if n == 0 {
		return -1, nil // no bound
	}
	return n, nil
}

// allowed is a flag's list, else its environment variable's (a path list).
func allowed(flag []string, env string) []string {
	if len(flag) > 0 {
		return flag
	}
	if v := os.Getenv(env); v != "" {
		return filepath.SplitList(v)
	}
	return nil
}

// protectedPaths are bp's own files, which code blocks must not reach even
// when they lie beneath a tree blocks may read: the vault, every key file
// and what bp keeps beside it, the run history, and bp's directories.
func (f *runFlags) protectedPaths() []string {
	var out []string
	add := func(p string, err error) {
		if err == nil && p != "" {
			out = append(out, p)
		}
	}
	add(vaultPathOrEnv(f.vaultPath))
	keyFiles := []string{os.Getenv(vault.EnvKeyFile)}
	if k, err := vault.DefaultKeyFile(os.Getenv); err == nil {
		keyFiles = append(keyFiles, k)
		out = append(out, filepath.Dir(k)) // bp's configuration directory
	}
	for _, k := range keyFiles {
		if k != "" {
			out = append(out, k, k+".pending", k+".vaults", k+".vaults.lock")
		}
	}
	history := f.history
	if history == "" {
		history = os.Getenv("BP_HISTORY")
	}
	if history == "" {
		history, _ = runner.DefaultHistoryPath(os.Getenv)
	}
	if history != "" {
		out = append(out, history, filepath.Dir(history))
	}
	if d := cacheDir(); d != "" {
		out = append(out, d) // a block must not choose the next run's interpreter
	}
	if p, err := vault.DefaultPath(func(name string) string {
		if name == vault.EnvVault {
			return "" // the default place, wherever BP_VAULT points
		}
		return os.Getenv(name)
	}); err == nil {
		out = append(out, filepath.Dir(p)) // bp's data directory
	}
	return out
}

// parseSize reads a byte count: 1073741824, 512MiB, 1GiB, 2G (G, M and K
// are binary too: memory is counted in pages).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "none" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (such as 512MiB or 2GiB; 0 or none for no bound)", s)
	}
	return n * mult, nil
}

// blueprintFolder is the folder code blocks may read for a blueprint at
// path: the folder itself, or the one that holds the file.
func blueprintFolder(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return path
	}
	return filepath.Dir(path)
}

// cacheDir is bp's cache directory ($XDG_CACHE_HOME/bp), or "" when there
// is none.
func cacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "bp")
}
