// Command bp runs blueprints: graphs of HTTP, Python and other blocks with an
// encrypted vault, and makes sure no secret leaks out of a run.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/internal/sandbox"
)

// Exit codes, as bp's documentation gives them.
const (
	exitOK          = 0
	exitRunFailed   = 1
	exitUsage       = 2
	exitVault       = 3
	exitInterrupted = 130
)

// exitError carries an exit code up to main. Its message has already been
// scrubbed when it holds anything that came out of a run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "bp",
		Short: "Run blueprints with an encrypted vault, leaking no secret",
		Long: `bp runs blueprints: graphs of HTTP request, Python code and other blocks,
written as native YAML or as Writer Agent Builder .wf files. Fields are
templates; @{vault.NAME} reads a secret from an encrypted vault at run time,
and every output of a run is scrubbed of every secret, in its encodings too.`,
		Example: `  bp demo                                   # the whole story, on a fresh machine
  bp validate weather.bp.yaml
  bp run weather.bp.yaml --payload '{"city": "Oslo"}'
  printf %s "$TOKEN" | bp vault set WEATHER_KEY
  bp runs list`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().String(colorFlag, "auto", "colors in the run log: auto (on a terminal, unless $NO_COLOR is set), always or never")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return checkColorFlag(cmd) }
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands are registered by the command_*.go files of this package.
var subcommands []func() *cobra.Command

func main() {
	// bp holds the vault's key and the server's token: no process of the
	// same user (a code block, where the sandbox is missing) may read its
	// memory or its environment.
	if err := sandbox.ProtectSelf(); err != nil {
		fmt.Fprintln(os.Stderr, "bp: warning: cannot protect the process's memory:", err)
	}
	os.Exit(execute(os.Args[1:]))
}

func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "bp:", ee.err)
		}
		return ee.code
	}
	// Errors cobra found in flags and arguments are usage errors.
	fmt.Fprintln(os.Stderr, "bp:", err)
	return exitUsage
}
