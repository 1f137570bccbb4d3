package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/vault"
)

func newVaultInitCmd(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the vault, and a key file when no key is set",
		Long: `Create an empty vault. The master key is the one bp would use to open it
($BP_VAULT_KEY, $BP_VAULT_KEY_FILE, $BP_VAULT_PASSPHRASE, or the default key
file); when there is none, init generates a random key and writes it to
$XDG_CONFIG_HOME/bp/vault.key (mode 0600, directory 0700). Keep that file
safe: without it the vault cannot be opened.`,
		Example: `  bp vault init
  bp vault init --vault ./project.vault
  BP_VAULT_PASSPHRASE="$(cat ~/secret-phrase)" bp vault init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := f.vaultPath()
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil {
				return withCode(exitVault, fmt.Errorf("vault %s already exists", path))
			}
			out := cmd.OutOrStdout()
			key, err := vault.ResolveKey(os.Getenv)
			// Generate a key only when none is set at all: a bad BP_VAULT_KEY
			// is a mistake to report, not to paper over. (A broken default
			// key file is never overwritten: WriteKeyFile refuses.)
			noneSet := os.Getenv(vault.EnvKey) == "" && os.Getenv(vault.EnvKeyFile) == "" && os.Getenv(vault.EnvPassphrase) == ""
			if errors.Is(err, vault.ErrNoKey) && noneSet {
				keyFile, kerr := vault.DefaultKeyFile(os.Getenv)
				if kerr != nil {
					return withCode(exitVault, kerr)
				}
				key = vault.GenerateMasterKey()
				// The key file first: a vault without its key is lost, a
				// key file without a vault is reused by the next init.
				if err := vault.WriteKeyFile(keyFile, key); err != nil {
					return withCode(exitVault, err)
				}
				fmt.Fprintf(out, "created key file %s (keep it safe: without it the vault cannot be opened)\n", keyFile)
				if key, err = vault.ReadKeyFile(keyFile); err != nil {
					return withCode(exitVault, err)
				}
			} else if err != nil {
				return withCode(exitVault, err)
			}
			defer key.Zero()
			v, err := vault.Create(path, key, vault.Options{LockTimeout: f.lockTimeout})
			if errors.Is(err, fs.ErrExist) {
				return withCode(exitVault, fmt.Errorf("vault %s already exists", path))
			}
			if err != nil {
				return withCode(exitVault, err)
			}
			defer v.Close()
			fmt.Fprintf(out, "created vault %s (id %s), master key from %s\n", path, v.ID(), key.Source())
			return nil
		},
	}
}
