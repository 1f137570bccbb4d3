package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newVaultGetCmd(f *vaultFlags) *cobra.Command {
	var reveal, asJSON bool
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a secret's metadata, or with --reveal its value",
		Long: `Show the metadata of secret NAME: version, created and updated times. The
value is printed only with --reveal, byte for byte on stdout (with a newline
added when stdout is a terminal).`,
		Example: `  bp vault get WEATHER_KEY
  bp vault get WEATHER_KEY --json
  bp vault get WEATHER_KEY --reveal > key.txt`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: f.completeSecretNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretName(name); err != nil {
				return err
			}
			v, err := f.open(true, false)
			if err != nil {
				return err
			}
			defer v.Close()
			out := cmd.OutOrStdout()
			if reveal {
				value, err := v.Get(name)
				if err != nil {
					return vaultExit(err)
				}
				defer clear(value)
				if _, err := out.Write(value); err != nil {
					return err
				}
				if file, ok := out.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
					fmt.Fprintln(out)
				}
				return nil
			}
			m, err := v.Meta(name)
			if err != nil {
				return vaultExit(err)
			}
			if asJSON {
				return writeJSON(out, m)
			}
			fmt.Fprintf(out, "name:    %s\nversion: %d\ncreated: %s\nupdated: %s\n", m.Name, m.Version, stamp(m.Created), stamp(m.Updated))
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "print the value itself")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the metadata as JSON")
	cmd.MarkFlagsMutuallyExclusive("reveal", "json")
	return cmd
}
