package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/vault"
)

// newVaultAuditCmd shows which runs read which secrets. The records live in
// the run history, written with each run: runs open the vault read-only,
// so that many can share it, and never write to it.
func newVaultAuditCmd() *cobra.Command {
	var historyPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [NAME]",
		Short: "Show which runs and blocks read a secret (never its value)",
		Long: `Show the secret reads recorded by runs: which secret, which run, which
blueprint and block, and when. Records hold names only, never values. They are
kept in the run history (--history, $BP_HISTORY, else
$XDG_DATA_HOME/bp/history.db), written with each run.`,
		Example: `  bp vault audit
  bp vault audit WEATHER_KEY
  bp vault audit WEATHER_KEY --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
				if !vault.ValidName(name) {
					// Not echoed: a value typed where the name goes must not
					// be printed back.
					return withCode(exitUsage, vault.ErrInvalidName)
				}
			}
			h, err := openHistoryForRead(historyPath)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			defer h.Close()
			records, err := h.Audit(name)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, records)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SECRET\tTIME\tRUN\tBLUEPRINT\tBLOCK")
			for _, a := range records {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Secret, a.Time.Local().Format(time.DateTime), a.Run, a.Blueprint, a.Block)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&historyPath, "history", "", "run history file (default $BP_HISTORY, else $XDG_DATA_HOME/bp/history.db)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records as JSON")
	return cmd
}
