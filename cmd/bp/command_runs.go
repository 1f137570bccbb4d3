package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/runner"
)

func init() { subcommands = append(subcommands, newRunsCmd) }

func newRunsCmd() *cobra.Command {
	var historyPath string
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Show the stored run history",
		Long: `Show the runs that bp run recorded. History holds each run's events, return
value and error as they were printed: scrubbed of every secret.`,
		Example: `  bp runs list
  bp runs show 3f2a`,
	}
	cmd.PersistentFlags().StringVar(&historyPath, "history", "", "run history file (default $BP_HISTORY, else $XDG_DATA_HOME/bp/history.db)")

	var limit int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List recent runs, newest first",
		Example: "  bp runs list\n  bp runs list --limit 5",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := openHistoryForRead(historyPath)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			defer h.Close()
			runs, err := h.List(cmd.Context(), limit)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tBLUEPRINT\tSTATUS\tSTARTED\tDURATION")
			for _, r := range runs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Blueprint, r.Status, r.Started.Local().Format(time.DateTime), time.Duration(r.DurationMS*float64(time.Millisecond)).Round(time.Microsecond))
			}
			return w.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "how many runs (0 for all)")

	var asJSON bool
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one run: its blocks, output, and return value",
		Example: "  bp runs show 3f2a\n  bp runs show 3f2a9c1e-... --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := openHistoryForRead(historyPath)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			defer h.Close()
			rec, err := h.Get(cmd.Context(), args[0])
			if errors.Is(err, runner.ErrRunNotFound) {
				return withCode(exitUsage, err)
			}
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, rec)
			}
			fmt.Fprintf(out, "run %s  blueprint %s  %s  started %s  took %s\n", rec.ID, rec.Blueprint, rec.Status,
				rec.Started.Local().Format(time.DateTime), time.Duration(rec.DurationMS*float64(time.Millisecond)).Round(time.Microsecond))
			console := runner.NewConsole(out, false)
			for i := range rec.Events {
				console.Emit(rec.Events[i].ToEvent())
			}
			if rec.HasReturn {
				b, _ := json.MarshalIndent(rec.Return, "", "  ")
				fmt.Fprintf(out, "return value:\n%s\n", b)
			}
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the stored record as JSON")
	cmd.AddCommand(list, show)
	return cmd
}
