package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/vault"
)

func newVaultImportCmd(f *vaultFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.env",
		Short: "Store every NAME=VALUE of a .env file, in one transaction",
		Long: `Store the secrets of a .env file: NAME=VALUE lines, optionally prefixed by
"export ", with "double" (\n \t \" \\ escapes) or 'single' quoted values,
blank lines and # comments. Either every secret is stored or none. Empty
values are skipped with a warning. FILE "-" reads stdin. Parse errors give the
line number, never the line.`,
		Example: `  bp vault import .env
  grep '^API_' prod.env | bp vault import -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			var in io.Reader = cmd.InOrStdin()
			if file != "-" {
				fh, err := os.Open(file)
				if err != nil {
					return withCode(exitUsage, err)
				}
				defer fh.Close()
				in = fh
			}
			values, err := vault.ParseEnv(in)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("%s: %w", file, err))
			}
			defer func() {
				for _, v := range values {
					clear(v)
				}
			}()
			names := make([]string, 0, len(values))
			for n, v := range values {
				if len(v) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "bp: warning: %s is empty; skipped\n", n)
					delete(values, n)
					continue
				}
				warnShort(cmd, n, v)
				names = append(names, n)
			}
			if len(names) == 0 {
				return withCode(exitUsage, fmt.Errorf("%s: no secrets to import", file))
			}
			slices.Sort(names)
			v, err := f.open(false, true)
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.Import(values); err != nil {
				return vaultExit(err)
			}
			if err := closeChanged(cmd, v); err != nil {
				return vaultExit(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d secrets into %s: %s\n", len(names), v.Path(), strings.Join(names, ", "))
			return nil
		},
	}
}
