package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newVaultRmCmd(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a secret",
		Long: `Delete secret NAME. A missing secret is an error (exit 3). The old
ciphertext can never be brought back as a valid value.`,
		Example:           `  bp vault rm OLD_TOKEN`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: f.completeSecretNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretName(name); err != nil {
				return err
			}
			v, err := f.open(false, false)
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.Delete(name); err != nil {
				return vaultExit(err)
			}
			if err := closeChanged(cmd, v); err != nil {
				return vaultExit(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s from %s\n", name, v.Path())
			return nil
		},
	}
}
