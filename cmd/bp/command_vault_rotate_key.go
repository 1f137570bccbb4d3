package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/vault"
)

// Where rotate-key takes the new master key from when --new-key-file is not
// given.
const (
	envNewKey        = "BP_VAULT_NEW_KEY"
	envNewPassphrase = "BP_VAULT_NEW_PASSPHRASE"
)

func newVaultRotateKeyCmd(f *vaultFlags) *cobra.Command {
	var reencrypt bool
	var newKeyFile, keyFileOut string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Change the master key (and with --reencrypt the data key), in one transaction",
		Long: `Make a new master key the one that opens the vault. The data key is re-wrapped
under it; with --reencrypt a new data key is made too and every value is
resealed. Either way it is one transaction: killed at any point, the vault
opens with the old key or the new one.

Re-wrapping is enough when the old key leaked but no copy of the vault file
did. If a copy may have leaked too, use --reencrypt: the old key unwraps the
old copy's data key, which without --reencrypt still opens today's values.

The new key is, first found: --new-key-file F, $BP_VAULT_NEW_KEY (base64),
$BP_VAULT_NEW_PASSPHRASE, else a new random key.

When the current key comes from a key file, that file ends up holding the new
key. It is written to FILE.pending before the transaction and renamed over
FILE after it commits; if bp dies in between, the next bp finds the pending
key and finishes the rename. When the current key comes from $BP_VAULT_KEY or
a passphrase, no file is written: give the new key explicitly and update your
environment afterwards.

A key file can open several vaults (the default key file is every vault's
unless the environment names another). rotate-key refuses to rewrite a key
file that still opens another vault bp has opened with it, which would lock
that vault out: --key-file-out FILE then puts the new key in a new file of
this vault's own (point $BP_VAULT_KEY_FILE at it), and the shared file stays
as it is for the others.`,
		Example: `  bp vault rotate-key
  bp vault rotate-key --reencrypt
  bp vault rotate-key --new-key-file ./new.key
  bp vault rotate-key --key-file-out ~/.config/bp/project.key
  BP_VAULT_NEW_PASSPHRASE="..." bp vault rotate-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := f.vaultPath()
			if err != nil {
				return err
			}
			oldKey, err := vault.ResolveKey(os.Getenv)
			if err != nil {
				return vaultExit(err)
			}
			defer oldKey.Zero()
			newKey, generated, err := newMasterKey(newKeyFile, oldKey, keyFileOut != "")
			if err != nil {
				return err
			}
			defer newKey.Zero()
			if keyFileOut != "" && newKey.IsPassphrase() {
				return withCode(exitUsage, fmt.Errorf("--key-file-out takes a key, not a passphrase (%s)", newKey.Source()))
			}
			keyFile := ""
			if oldKey.File() != "" && !newKey.IsPassphrase() && keyFileOut == "" {
				keyFile = oldKey.File()
			}
			v, err := vault.Open(path, oldKey, vault.Options{LockTimeout: f.lockTimeout})
			if err != nil {
				return vaultExit(err)
			}
			defer v.Close()
			if oldKey.File() != "" && keyFileOut == "" {
				shared, err := vault.SharedKeyFile(oldKey.File(), path, oldKey, vault.Options{LockTimeout: f.lockTimeout})
				if err != nil {
					return vaultExit(err)
				}
				if len(shared) > 0 {
					them := "it"
					if len(shared) > 1 {
						them = "them"
					}
					return withCode(exitVault, fmt.Errorf("key file %s also opens %s: changing this vault's key there would lock %s out; give this vault a key file of its own with --key-file-out FILE",
						oldKey.File(), strings.Join(shared, ", "), them))
				}
			}
			opts := vault.RotateOptions{Reencrypt: reencrypt, KeyFile: keyFile, NewKeyFile: keyFileOut}
			if err := v.RotateKey(newKey, opts); err != nil {
				return vaultExit(err)
			}
			if keyFileOut != "" {
				_ = vault.RecordKeyUser(keyFileOut, path)
				if oldKey.File() != "" {
					_ = vault.ForgetKeyUser(oldKey.File(), path)
				}
			}
			if err := closeChanged(cmd, v); err != nil {
				return vaultExit(err)
			}
			out := cmd.OutOrStdout()
			what := "re-wrapped the data key"
			if reencrypt {
				what = "made a new data key and resealed every value"
			}
			fmt.Fprintf(out, "rotated the master key of %s: %s\n", path, what)
			switch {
			case keyFileOut != "":
				fmt.Fprintf(out, "the new key is in %s: set %s=%s to open this vault", keyFileOut, vault.EnvKeyFile, keyFileOut)
				if oldKey.File() != "" {
					fmt.Fprintf(out, " (%s stays as it was, for the other vaults)", oldKey.File())
				}
				fmt.Fprintln(out)
			case keyFile != "" && generated:
				fmt.Fprintf(out, "the new key is in %s\n", keyFile)
			case keyFile != "":
				fmt.Fprintf(out, "the new key (from %s) is now in %s\n", newKey.Source(), keyFile)
			case newKey.IsPassphrase():
				fmt.Fprintf(out, "the vault now opens with the new passphrase: set %s to it", vault.EnvPassphrase)
				if oldKey.File() != "" {
					fmt.Fprintf(out, " (the key file %s no longer opens it)", oldKey.File())
				}
				fmt.Fprintln(out)
			default:
				fmt.Fprintf(out, "the vault now opens with the key from %s: update %s accordingly\n", newKey.Source(), oldKey.Source())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reencrypt, "reencrypt", false, "also replace the data key and reseal every value")
	cmd.Flags().StringVar(&newKeyFile, "new-key-file", "", "read the new key (base64) from this file")
	cmd.Flags().StringVar(&keyFileOut, "key-file-out", "", "write the new key to this new file instead of the current key file (for a vault that shares its key file)")
	return cmd
}

// newMasterKey finds the new key for rotate-key (see its help). It only
// generates one when there is a key file to put it in: a generated key that
// is written nowhere would lock the user out.
func newMasterKey(newKeyFile string, old vault.MasterKey, toNewFile bool) (key vault.MasterKey, generated bool, err error) {
	switch {
	case newKeyFile != "":
		k, err := vault.ReadKeyFile(newKeyFile)
		if err != nil {
			return k, false, withCode(exitUsage, err)
		}
		return k, false, nil
	case os.Getenv(envNewKey) != "":
		k, err := vault.ParseKey([]byte(os.Getenv(envNewKey)))
		if err != nil {
			return k, false, withCode(exitUsage, fmt.Errorf("%s: %w", envNewKey, err))
		}
		return k.WithSource(envNewKey), false, nil
	case os.Getenv(envNewPassphrase) != "":
		return vault.PassphraseKey([]byte(os.Getenv(envNewPassphrase))).WithSource(envNewPassphrase), false, nil
	case old.File() == "" && !toNewFile:
		return vault.MasterKey{}, false, withCode(exitUsage, fmt.Errorf(
			"the current key comes from %s, not a key file, so there is nowhere to put a generated key: give the new key with --new-key-file, %s or %s",
			old.Source(), envNewKey, envNewPassphrase))
	default:
		return vault.GenerateMasterKey().WithSource("a new random key"), true, nil
	}
}
