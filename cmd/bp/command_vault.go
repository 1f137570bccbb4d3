package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bprun/bp/vault"
)

func init() { subcommands = append(subcommands, newVaultCmd) }

// vaultFlags are the flags every 'bp vault' subcommand shares.
type vaultFlags struct {
	path        string
	lockTimeout time.Duration
}

func newVaultCmd() *cobra.Command {
	f := &vaultFlags{}
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Manage the encrypted vault of secrets",
		Long: `Manage the encrypted vault: a bbolt file of secrets that blueprints read as
@{vault.NAME}. Values are sealed with AES-256-GCM under a data key that the
master key wraps.

The vault file is --vault, else $BP_VAULT, else $XDG_DATA_HOME/bp/vault.db
(~/.local/share/bp/vault.db). The master key is, first found: $BP_VAULT_KEY
(32 bytes, base64), $BP_VAULT_KEY_FILE, $BP_VAULT_PASSPHRASE (argon2id), else
the key file $XDG_CONFIG_HOME/bp/vault.key that 'bp vault init' creates.

Values never come from the command line: 'set' reads stdin, a file or an
environment variable, and only 'get --reveal' prints one.

Exit codes: 0 success, 2 bad usage, 3 vault problem (wrong key, locked,
corrupt, missing secret).`,
		Example: `  bp vault init
  printf %s "$TOKEN" | bp vault set WEATHER_KEY
  bp vault list
  bp vault get WEATHER_KEY --reveal`,
	}
	cmd.PersistentFlags().StringVar(&f.path, "vault", "", "vault file (default $BP_VAULT, else $XDG_DATA_HOME/bp/vault.db)")
	cmd.PersistentFlags().DurationVar(&f.lockTimeout, "lock-timeout", vault.DefaultLockTimeout, "how long to wait for a vault another process holds")
	cmd.AddCommand(
		newVaultInitCmd(f),
		newVaultSetCmd(f),
		newVaultGetCmd(f),
		newVaultListCmd(f),
		newVaultRmCmd(f),
		newVaultImportCmd(f),
		newVaultRotateKeyCmd(f),
		newVaultAuditCmd(),
	)
	return cmd
}

// vaultPath is --vault, else BP_VAULT, else the XDG default.
func (f *vaultFlags) vaultPath() (string, error) {
	if f.path != "" {
		return f.path, nil
	}
	p, err := vault.DefaultPath(os.Getenv)
	return p, vaultExit(err)
}

// open opens the vault with the key from the environment. Changes use
// create: set and import make the vault on first use when a key is found.
func (f *vaultFlags) open(readOnly, create bool) (*vault.Vault, error) {
	path, err := f.vaultPath()
	if err != nil {
		return nil, err
	}
	v, err := vault.OpenEnv(path, os.Getenv, vault.Options{ReadOnly: readOnly, LockTimeout: f.lockTimeout, CreateIfMissing: create})
	return v, vaultExit(err)
}

// closeChanged compacts a vault that a command has changed, so that what
// the change replaced (an old value, the old wrapping of the data key)
// leaves the file (see vault.Compact), and closes it. The change is saved
// either way: a failed compaction is a warning, not the command's failure.
func closeChanged(cmd *cobra.Command, v *vault.Vault) error {
	if err := v.Compact(); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "bp: warning: the change is saved, but what it replaced may stay in a freed page of the file until reused: %v\n", err)
	}
	return v.Close()
}

// vaultExit gives a vault error its exit code: a bad secret name is bad
// usage (2), anything else a vault problem (3).
func vaultExit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vault.ErrInvalidName):
		return withCode(exitUsage, err)
	default:
		return withCode(exitVault, err)
	}
}

// checkSecretName refuses a bad name before anything is read or opened.
func checkSecretName(name string) error {
	if vault.ValidName(name) {
		return nil
	}
	// Not echoed: it may be a value typed in the wrong place.
	return withCode(exitUsage, vault.ErrInvalidName)
}

// valueSource says where 'set' reads a value: stdin unless a flag says.
type valueSource struct {
	fromFile string
	fromEnv  string
}

func (s *valueSource) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.fromFile, "from-file", "", "read the value from this file, byte for byte")
	cmd.Flags().StringVar(&s.fromEnv, "from-env", "", "read the value from this environment variable")
	cmd.MarkFlagsMutuallyExclusive("from-file", "from-env")
}

// read returns the value for secret name. On a terminal the value is typed
// without echo; piped, exactly one trailing newline is stripped (what echo
// and a here-string add). A file is taken byte for byte. Errors never
// contain the value.
func (s *valueSource) read(cmd *cobra.Command, name string) ([]byte, error) {
	var value []byte
	switch {
	case s.fromEnv != "":
		v, ok := os.LookupEnv(s.fromEnv)
		if !ok {
			return nil, withCode(exitUsage, fmt.Errorf("environment variable %s is not set", s.fromEnv))
		}
		value = []byte(v)
	case s.fromFile != "":
		// Read through a limit, not after a size check: a device or a FIFO
		// has no size, and /dev/zero has no end.
		f, err := os.Open(s.fromFile)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		value, err = io.ReadAll(io.LimitReader(f, vault.MaxValueSize+1))
		f.Close()
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		if len(value) > vault.MaxValueSize {
			return nil, withCode(exitUsage, fmt.Errorf("%s: more than the %d bytes a secret may have", s.fromFile, vault.MaxValueSize))
		}
	default:
		in := cmd.InOrStdin()
		if file, ok := in.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Value for %s (input hidden): ", name)
			v, err := readHidden(int(file.Fd()), cmd.ErrOrStderr())
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return nil, withCode(exitUsage, fmt.Errorf("reading the value from the terminal: %w", err))
			}
			value = v
			break
		}
		v, err := io.ReadAll(io.LimitReader(in, vault.MaxValueSize+2))
		if err != nil {
			return nil, withCode(exitUsage, fmt.Errorf("reading the value from stdin: %w", err))
		}
		if bytes.HasSuffix(v, []byte("\n")) {
			v = bytes.TrimSuffix(v[:len(v)-1], []byte("\r"))
		}
		if len(v) > vault.MaxValueSize {
			return nil, withCode(exitUsage, fmt.Errorf("stdin: more than the %d bytes a secret may have", vault.MaxValueSize))
		}
		value = v
	}
	if len(value) == 0 {
		return nil, withCode(exitUsage, fmt.Errorf("the value of %s is empty; nothing stored", name))
	}
	return value, nil
}

// readHidden reads a line from the terminal fd without echo. Ctrl-C while
// typing must not leave the user's terminal with echo off, as dying inside
// term.ReadPassword would: the terminal state is restored first.
func readHidden(fd int, stderr io.Writer) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			term.Restore(fd, state)
			fmt.Fprintln(stderr)
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return term.ReadPassword(fd)
}

// warnShort warns that a short value is stored, but that run output
// cannot mask it alone: too many innocent texts would match it.
func warnShort(cmd *cobra.Command, name string, value []byte) {
	switch {
	case len(value) < 4:
		fmt.Fprintf(cmd.ErrOrStderr(), "bp: warning: %s is %d bytes long; values shorter than 4 bytes are not masked in run output\n", name, len(value))
	case len(bytes.TrimSpace(value)) == 0:
		fmt.Fprintf(cmd.ErrOrStderr(), "bp: warning: %s is only whitespace; masking it will mask such whitespace everywhere in run output\n", name)
	}
}

// stamp formats a time for list and get.
func stamp(t time.Time) string { return t.Local().Format(time.RFC3339) }
