package main

import (
	"context"
	"encoding/json"
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
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

func init() { subcommands = append(subcommands, newTestCmd) }

func newTestCmd() *cobra.Command {
	var (
		update    bool
		record    bool
		verbose   bool
		asJSON    bool
		runRE     string
		python    string
		vaultPath string
	)
	cmd := &cobra.Command{
		Use:   "test [PATH...] [-update | -record] [-run REGEX] [-v | -json]",
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

-record (or --record) runs each case once against the live endpoints,
through the real HTTP block, and writes what went over the wire into its
case.yaml (the http: section; the rest of the file stays): the values of
the case's vault as @{vault.NAME} templates, values a block masked as
placeholders, Date and request-id headers left out. The live run sends the
real vault's values for the case's secrets (the vault bp run uses, or
--vault), else the case's fake ones. A recording that would write a secret
in a form bp cannot template is refused. The case is then replayed offline
and its golden file written.

-v shows each case's run log as it happens, like go test -v; -json writes
test2json events instead (one JSON object a line: the PATH is the Package,
each case a Test), for CI systems that show go test's cases.

Exit codes: 0 every case passed, 1 a case failed, 2 bad usage.`,
		Example: `  bp test                          # every case under the current directory
  bp test flows/weather.bp.yaml    # the cases of one blueprint
  bp test -run 'weather/.*error'   # cases whose name matches
  bp test -update ./flows          # rewrite the golden files
  bp test -record -run '^weather$'  # record a case's exchanges, live
  bp test -v flows/weather.bp.yaml # watch each case's run
  bp test -json ./flows            # test2json events for CI`,
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
			var rep testReporter = &textReport{w: cmd.OutOrStdout(), verbose: verbose}
			if asJSON {
				rep = newJSONReport(cmd.OutOrStdout())
			}
			opts := bptest.Options{Update: update, Filter: filter, Python: python, Record: record}
			if record {
				// The live run sends the real vault's values, when it
				// has them: the vault bp run would use.
				f := runFlags{vaultPath: vaultPath}
				v, err := f.openVaultForRun()
				if err != nil {
					return withCode(exitVault, err)
				}
				if v != nil {
					defer v.Close()
					opts.LiveSecrets = liveVault{v}
				}
			}
			return runTests(ctx, rep, paths, opts)
		},
	}
	cmd.Flags().BoolVar(&update, "update", false, "rewrite the golden files from the runs")
	cmd.Flags().StringVar(&runRE, "run", "", "run only the cases whose name matches this regular expression")
	cmd.Flags().BoolVar(&record, "record", false, "run each case once against the live endpoints and write its HTTP exchanges into its case.yaml (secrets as @{vault.NAME}), then its golden file")
	cmd.Flags().StringVar(&vaultPath, "vault", "", "with --record: the vault whose values are sent for the case's secrets (default $BP_VAULT, else $XDG_DATA_HOME/bp/vault.db, when it exists)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show each case's run log as it happens, like go test -v")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write test2json events, one JSON object a line, for CI systems")
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
			case "update", "run", "python", "help", "json", "record", "vault":
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// runTests runs the cases of each path and reports them: a line per
// case, the diff and problems of each failure, and a closing count.
func runTests(ctx context.Context, rep testReporter, paths []string, opts bptest.Options) error {
	var passed, failed int
	start := time.Now()
	for _, p := range paths {
		prefix := ""
		if len(paths) > 1 {
			prefix = p + ": "
		}
		rep.start(p)
		pathStart := time.Now()
		var pathFailed bool
		opts.OnStart = func(name string) { rep.caseStart(prefix + name) }
		opts.Sink = func(name string) engine.Sink { return rep.caseLog(prefix + name) }
		opts.OnResult = func(r bptest.CaseResult) {
			r.Name = prefix + r.Name
			if r.Passed {
				passed++
			} else {
				failed++
				pathFailed = true
			}
			rep.caseEnd(r)
		}
		_, err := bptest.RunCases(ctx, p, opts)
		if ctx.Err() != nil {
			rep.end(p, true, time.Since(pathStart), fmt.Sprintf("%d passed, %d failed (interrupted)", passed, failed))
			return withCode(exitInterrupted, errors.New("interrupted"))
		}
		if err != nil {
			return withCode(exitUsage, err)
		}
		rep.end(p, pathFailed, time.Since(pathStart), "")
	}
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if passed+failed == 0 {
		summary = fmt.Sprintf("no test cases found (want testdata/NAME/%s beside NAME.bp.yaml)\n", bptest.CaseFile) + summary
	}
	rep.end("", failed > 0, time.Since(start), summary)
	if failed > 0 {
		return withCode(exitRunFailed, silent{})
	}
	return nil
}

// testReporter shows the cases as they run.
type testReporter interface {
	start(path string)
	caseStart(name string)
	// caseLog is the sink for a case's run log; nil for none.
	caseLog(name string) engine.Sink
	caseEnd(r bptest.CaseResult)
	// end closes a path (path != "") or the whole run (path == "",
	// summary the closing line).
	end(path string, failed bool, elapsed time.Duration, summary string)
}

// textReport is bp test's own output; verbose shows each case's run log
// as it happens, like go test -v.
type textReport struct {
	w       io.Writer
	verbose bool
}

func (t *textReport) start(string) {}

func (t *textReport) caseStart(name string) {
	if t.verbose {
		fmt.Fprintf(t.w, "=== RUN   %s\n", name)
	}
}

func (t *textReport) caseLog(string) engine.Sink {
	if !t.verbose {
		return nil
	}
	return runner.NewConsole(&indentWriter{w: t.w}, false)
}

func (t *textReport) caseEnd(r bptest.CaseResult) {
	d := r.Duration.Round(time.Millisecond).Seconds()
	note := caseNote(r)
	if r.Passed {
		fmt.Fprintf(t.w, "ok   %s (%.2fs)%s\n", r.Name, d, note)
		return
	}
	fmt.Fprintf(t.w, "FAIL %s (%.2fs)%s\n", r.Name, d, note)
	fmt.Fprint(t.w, failureText(r))
}

func (t *textReport) end(path string, _ bool, _ time.Duration, summary string) {
	if path == "" || summary != "" {
		fmt.Fprintln(t.w, summary)
	}
}

// caseNote says what a case changed on disk.
func caseNote(r bptest.CaseResult) string {
	switch {
	case r.Recorded && r.Updated:
		return " (exchanges recorded, golden file updated)"
	case r.Recorded:
		return " (exchanges recorded)"
	case r.Updated:
		return " (golden file updated)"
	}
	return ""
}

// liveVault is the vault as a recording reads it: a secret it lacks is
// engine.ErrSecretNotFound, and the case's fake value is sent.
type liveVault struct{ v *vault.Vault }

func (l liveVault) Secret(ctx context.Context, name string) (string, error) {
	b, err := l.v.Get(name)
	if errors.Is(err, vault.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", engine.ErrSecretNotFound, err)
	}
	if err != nil {
		return "", err
	}
	defer clear(b)
	return string(b), nil
}

func (l liveVault) SecretNames(ctx context.Context) ([]string, error) {
	metas, err := l.v.List()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(metas))
	for i, m := range metas {
		names[i] = m.Name
	}
	return names, nil
}

// failureText is a failed case's problems and diff, indented.
func failureText(r bptest.CaseResult) string {
	var b strings.Builder
	if r.Err != nil {
		b.WriteString(indent(r.Err.Error()))
	}
	if r.Diff != "" {
		b.WriteString(indent(r.Diff))
	}
	return b.String()
}

// indentWriter indents each line written to it (the console writes whole
// lines).
type indentWriter struct{ w io.Writer }

func (w *indentWriter) Write(p []byte) (int, error) {
	_, err := io.WriteString(w.w, indent(string(p)))
	return len(p), err
}

// jsonReport writes test2json's events (go doc cmd/test2json), one JSON
// object a line, so that CI systems show each case: the path is the
// Package, a case is a Test.
type jsonReport struct {
	enc *json.Encoder
	pkg string
}

type testEvent struct {
	Time    time.Time `json:"Time"`
	Action  string    `json:"Action"`
	Package string    `json:"Package,omitempty"`
	Test    string    `json:"Test,omitempty"`
	Elapsed *float64  `json:"Elapsed,omitempty"`
	Output  string    `json:"Output,omitempty"`
}

func newJSONReport(w io.Writer) *jsonReport {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonReport{enc: enc}
}

func (j *jsonReport) emit(e testEvent) {
	e.Time = time.Now()
	if e.Package == "" {
		e.Package = j.pkg
	}
	_ = j.enc.Encode(e)
}

func (j *jsonReport) start(path string) {
	j.pkg = path
	j.emit(testEvent{Action: "start"})
}

func (j *jsonReport) caseStart(name string) {
	j.emit(testEvent{Action: "run", Test: name})
	j.emit(testEvent{Action: "output", Test: name, Output: "=== RUN   " + name + "\n"})
}

func (j *jsonReport) caseLog(name string) engine.Sink {
	return runner.NewConsole(&outputWriter{j: j, test: name}, false)
}

func (j *jsonReport) caseEnd(r bptest.CaseResult) {
	action, mark := "pass", "--- PASS"
	if !r.Passed {
		action, mark = "fail", "--- FAIL"
		j.output(r.Name, failureText(r))
	}
	elapsed := r.Duration.Seconds()
	j.emit(testEvent{Action: "output", Test: r.Name, Output: fmt.Sprintf("%s: %s (%.2fs)\n", mark, r.Name, elapsed)})
	j.emit(testEvent{Action: action, Test: r.Name, Elapsed: &elapsed})
}

func (j *jsonReport) end(path string, failed bool, elapsed time.Duration, summary string) {
	if path == "" {
		return // each path was closed on its own
	}
	action := "pass"
	if failed {
		action = "fail"
	}
	if summary != "" {
		j.output("", summary+"\n")
	}
	s := elapsed.Seconds()
	j.emit(testEvent{Action: action, Elapsed: &s})
}

// output emits text as output events, a line each.
func (j *jsonReport) output(test, text string) {
	for _, line := range strings.SplitAfter(text, "\n") {
		if line != "" {
			j.emit(testEvent{Action: "output", Test: test, Output: line})
		}
	}
}

// outputWriter turns a case's run log into output events.
type outputWriter struct {
	j    *jsonReport
	test string
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.j.output(w.test, indent(string(p)))
	return len(p), nil
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
