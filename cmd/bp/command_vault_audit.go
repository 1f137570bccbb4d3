package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newVaultAuditCmd points to where the audit trail lives: which run read
// which secret is recorded with each run, not in the vault (runs open it
// read-only).
func newVaultAuditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "audit",
		Short: "Where to find which runs used which secrets",
		Long: `The vault records no reads: runs open it read-only so that many can share it.
Which secrets a run used is kept in the run history, with the run.`,
		Example: `  bp runs list
  bp runs show RUN_ID`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "Audit records of secret use live in the run history: see 'bp runs list' and 'bp runs show ID'.")
			return nil
		},
	}
}
