package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/bptest"
)

func init() { subcommands = append(subcommands, newTestCmd) }

func newTestCmd() *cobra.Command {
	var (
		update bool
		runRE  string
		python string
	)
	cmd := &cobra.Command{
		Use:   "test [PATH...] [-update] [-run REGEX]",
		Short: "Run the golden-file tests of blueprints, offline",
		Long: `Run the golden-file test cases of blueprints and compare each run with its
golden file. A case sits beside its blueprint: for NAME.bp.yaml,
testdata/NAME/case.yaml (payload, fake vault values, recorded HTTP exchanges)
and testdata/NAME/golden.json (the run's summary: per block its outcome,
result and output, then the run's status and return value). A blueprint may
have more cases in testdata/NAME/CASE/. PATH is a blueprint file or a
directory, searched recursively (default: the current directory).

Nothing reaches the network: HTTP blocks get the recorded responses, and a
request that none matches fails the case. Code blocks run in Python.

-update (or --update) rewrites the golden files from the runs. A golden
file that holds any of its case's vault values, raw or encoded, fails the
case, and -update refuses to write one; -update over a golden file that
held one rewrites it and fails the case, naming the secret (version
control may keep the old file).

Exit codes: 0 every case passed, 1 a case failed, 2 bad usage.`,
		Example: `  bp test                          # every case under the current directory
  bp test flows/weather.bp.yaml    # the cases of one blueprint
  bp test -run 'weather/.*error'   # cases whose name matches
  bp test -update ./flows          # rewrite the golden files`,
		// Flags are parsed below, so that Go test's -update and -run,
		// with one dash, work as well as --update and --run.
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmd.Flags().Parse(doubleDash(args)); err != nil {
				return withCode(exitUsage, err)
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			paths := cmd.Flags().Args()
			if len(paths) == 0 {
				paths = []string{"."}
			}
			var filter *regexp.Regexp
			if runRE != "" {
				re, err := regexp.Compile(runRE)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("-run: %v", err))
				}
				filter = re
			}
			for _, p := range paths {
				if _, err := os.Stat(p); err != nil {
					return withCode(exitUsage, err)
				}
			}
			if python == "" {
				python = os.Getenv("BP_PYTHON")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTests(ctx, cmd.OutOrStdout(), paths, bptest.Options{Update: update, Filter: filter, Python: python})
		},
	}
	cmd.Flags().BoolVar(&update, "update", false, "rewrite the golden files from the runs")
	cmd.Flags().StringVar(&runRE, "run", "", "run only the cases whose name matches this regular expression")
	cmd.Flags().StringVar(&python, "python", "", "Python interpreter for code blocks (default $BP_PYTHON, else python3)")
	cmd.Flags().BoolP("help", "h", false, "help for test")
	return cmd
}

// doubleDash turns Go test's single-dash long flags (-update, -run=x)
// into pflag's --update and --run=x. Arguments after "--" are left alone.
func doubleDash(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			switch name {
			case "update", "run", "python", "help":
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// runTests runs the cases of each path, printing one line per case, the
// diff and problems of each failure, and a closing count.
func runTests(ctx context.Context, w io.Writer, paths []string, opts bptest.Options) error {
	var passed, failed int
	for _, p := range paths {
		prefix := ""
		if len(paths) > 1 {
			prefix = p + ": "
		}
		opts.OnResult = func(r bptest.CaseResult) {
			d := r.Duration.Round(time.Millisecond).Seconds()
			if r.Passed {
				passed++
				note := ""
				if r.Updated {
					note = " (golden file updated)"
				}
				fmt.Fprintf(w, "ok   %s%s (%.2fs)%s\n", prefix, r.Name, d, note)
				return
			}
			failed++
			note := ""
			if r.Updated {
				note = " (golden file updated)"
			}
			fmt.Fprintf(w, "FAIL %s%s (%.2fs)%s\n", prefix, r.Name, d, note)
			if r.Err != nil {
				fmt.Fprint(w, indent(r.Err.Error()))
			}
			if r.Diff != "" {
				fmt.Fprint(w, indent(r.Diff))
			}
		}
		_, err := bptest.RunCases(ctx, p, opts)
		if ctx.Err() != nil {
			fmt.Fprintf(w, "%d passed, %d failed (interrupted)\n", passed, failed)
			return withCode(exitInterrupted, errors.New("interrupted"))
		}
		if err != nil {
			return withCode(exitUsage, err)
		}
	}
	if passed+failed == 0 {
		fmt.Fprintf(w, "no test cases found (want testdata/NAME/%s beside NAME.bp.yaml)\n", bptest.CaseFile)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return withCode(exitRunFailed, silent{})
	}
	return nil
}

func indent(s string) string {
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		sb.WriteString("    ")
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	return sb.String()
}
