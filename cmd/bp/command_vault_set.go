package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newVaultSetCmd(f *vaultFlags) *cobra.Command {
	var src valueSource
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a secret (value from stdin, a file or an environment variable)",
		Long: `Store a secret under NAME ([A-Za-z_][A-Za-z0-9_]*), replacing its value and
raising its version. The value is never taken from the command line, where
other users and shell history could see it:

  - typed on a terminal, without echo;
  - piped on stdin, with exactly one trailing newline removed;
  - --from-file F, byte for byte;
  - --from-env VAR.

The vault is created on first use when a master key is set. Values shorter
than 4 bytes are stored with a warning: run output cannot mask them alone.`,
		Example: `  bp vault set WEATHER_KEY                 # prompts, input hidden
  printf %s "$TOKEN" | bp vault set WEATHER_KEY
  bp vault set TLS_KEY --from-file ./client.key
  bp vault set DB_PASSWORD --from-env DB_PASSWORD`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretName(name); err != nil {
				return err
			}
			// Read before opening: the write lock is held only while writing,
			// not while someone types.
			value, err := src.read(cmd, name)
			if err != nil {
				return err
			}
			defer clear(value)
			warnShort(cmd, name, value)
			v, err := f.open(false, true)
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.Set(name, value); err != nil {
				return vaultExit(err)
			}
			m, err := v.Meta(name)
			if err != nil {
				return vaultExit(err)
			}
			if err := closeChanged(cmd, v); err != nil {
				return vaultExit(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set %s (version %d) in %s\n", name, m.Version, v.Path())
			return nil
		},
	}
	src.register(cmd)
	return cmd
}
