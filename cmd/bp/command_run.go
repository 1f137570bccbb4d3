package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

func init() { subcommands = append(subcommands, newRunCmd) }

func newRunCmd() *cobra.Command {
	var (
		flags       runFlags
		secrets     secretsFlag
		load        loadFlags
		key         string
		payload     string
		payloadFile string
		trigger     string
		logFormat   string
	)
	cmd := &cobra.Command{
		Use:   "run PATH",
		Short: "Run a blueprint",
		Long: `Run one blueprint: a native *.bp.yaml file, a Writer Agent Builder .wf folder
or components-blueprints_blueprint-*.jsonl file, or a directory of them.

The return value is printed as JSON on stdout; the run log goes to stderr (one
line per block on a terminal, JSON lines with --log json). Every output is
scrubbed of the vault's secrets.

Exit codes: 0 success, 1 the run failed, 2 bad usage or invalid blueprint,
3 vault problem, 130 interrupted.`,
		Example: `  bp run weather.bp.yaml
  bp run weather.bp.yaml --payload '{"city": "Oslo"}'
  bp run ./flows --blueprint weather --log json
  bp run app/.wf --blueprint blueprint2 --timeout 30s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if payload != "" && payloadFile != "" {
				return withCode(exitUsage, fmt.Errorf("use --payload or --payload-file, not both"))
			}
			if err := flags.checkPython(); err != nil {
				return err
			}
			if logFormat != "pretty" && logFormat != "json" {
				return withCode(exitUsage, fmt.Errorf("--log must be pretty or json, not %q", logFormat))
			}
			var body any
			if payloadFile != "" {
				data, err := os.ReadFile(payloadFile)
				if err != nil {
					return withCode(exitUsage, err)
				}
				payload = string(data)
			}
			if payload != "" {
				v, err := engine.DecodeJSON([]byte(payload))
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("payload is not valid JSON: %v", err))
				}
				body = v
			}
			set, err := loadSet(args[0], load)
			if err != nil {
				return err
			}
			bpKey, err := selectBlueprint(set, key)
			if err != nil {
				return err
			}
			history, err := flags.historyForRun()
			if err != nil {
				return withCode(exitUsage, err)
			}
			reg := blocks.Default(flags.blockOptions(blueprintFolder(args[0])))
			defer reg.Close()

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After the first Ctrl-C, a second one kills bp at once.
			context.AfterFunc(ctx, stop)

			src, err := secrets.source()
			if err != nil {
				return err
			}
			r := runner.New(runner.Options{
				Library:     runner.NewLibrary(set, reg),
				OpenVault:   flags.openVaultForRun,
				Secrets:     src,
				History:     history,
				MaxParallel: flags.maxParallel,
				Timeout:     flags.timeout,
			})
			return runAndReport(ctx, cmd, r, runner.Request{Blueprint: bpKey, Payload: body, Trigger: trigger}, logFormat, "")
		},
	}
	flags.register(cmd)
	secrets.register(cmd)
	load.register(cmd)
	cmd.Flags().StringVar(&key, "blueprint", "", "key of the blueprint to run, when PATH holds several")
	cmd.Flags().StringVar(&payload, "payload", "", "the run's payload, as JSON")
	cmd.Flags().StringVar(&payloadFile, "payload-file", "", "read the payload (JSON) from a file")
	cmd.Flags().StringVar(&trigger, "trigger", "", "id of the trigger block to start at")
	cmd.Flags().StringVar(&logFormat, "log", "pretty", "run log format: pretty or json")
	cmd.RegisterFlagCompletionFunc("blueprint", completeBlueprintKeys)
	cmd.RegisterFlagCompletionFunc("trigger", completeTriggers)
	cmd.RegisterFlagCompletionFunc("log", cobra.FixedCompletions([]string{"pretty", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// silent is an error the run log has already reported.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
