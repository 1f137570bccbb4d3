package main

import (
	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/schema"
)

func init() { subcommands = append(subcommands, newSchemaCmd) }

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of blueprint files, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of native blueprint files, generated
from bp's block types: the blueprint's keys, each type's fields with their
documentation, types and usual values, and its outcomes. An editor with a
YAML language server (VS Code's YAML extension, Neovim, Helix...) then
completes and checks *.bp.yaml files as they are written. The schema is
looser than 'bp validate', which has the last word.`,
		Example: `  bp schema > bp.schema.json
  # then, first line of a blueprint:
  # yaml-language-server: $schema=./bp.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := blocks.Default(blocks.Options{})
			defer reg.Close()
			b, err := schema.Generate(reg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
