package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/vault"
)

func newVaultListCmd(f *vaultFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List secrets: names, versions and times, never values",
		Example: `  bp vault list
  bp vault list --json | jq -r '.[].name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := f.open(true, false)
			if err != nil {
				return err
			}
			defer v.Close()
			list, err := v.List()
			if err != nil {
				return vaultExit(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if list == nil {
					list = []vault.Meta{}
				}
				return writeJSON(out, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no secrets in %s\n", v.Path())
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tCREATED\tUPDATED")
			for _, m := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.Name, m.Version, stamp(m.Created), stamp(m.Updated))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
