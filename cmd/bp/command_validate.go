package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
)

func init() { subcommands = append(subcommands, newValidateCmd) }

func newValidateCmd() *cobra.Command {
	var load loadFlags
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check blueprints without running them",
		Long: `Load and check every blueprint at the given paths: block types, fields,
edges and outcomes, cycles, and every template. All problems are printed at
once, one per line, as "file:line:col: block: field: message"; the exit code
is 2 if there is any.`,
		Example: `  bp validate weather.bp.yaml
  bp validate ./flows app/.wf`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lim, err := load.limits()
			if err != nil {
				return err
			}
			reg := blocks.Default(blocks.Options{})
			defer reg.Close()
			out := cmd.OutOrStdout()
			problems, checked := 0, 0
			for _, path := range args {
				set, err := lim.Load(path)
				if err != nil {
					fmt.Fprintln(out, err)
					problems++
					continue
				}
				for _, fe := range set.Errors {
					fmt.Fprintln(out, fe.Err)
					problems++
				}
				for _, bp := range set.Blueprints {
					checked++
					_, err := engine.Compile(bp, reg)
					var ve *engine.ValidationError
					switch {
					case errors.As(err, &ve):
						for _, p := range ve.Problems {
							fmt.Fprintln(out, p.Error())
						}
						problems += len(ve.Problems)
					case err != nil:
						fmt.Fprintln(out, err)
						problems++
					}
				}
			}
			if problems > 0 {
				return withCode(exitUsage, fmt.Errorf("%d problem(s) in %d blueprint(s)", problems, checked))
			}
			fmt.Fprintf(out, "%d blueprint(s) valid\n", checked)
			return nil
		},
	}
	load.register(cmd)
	return cmd
}
