package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print bp's version, revision and Go version",
		Long: `Print what this bp binary was built from: the module version (a tag for
'go install github.com/bprun/bp/cmd/bp@v1.2.3', else a pseudo-version or
"(devel)"), the VCS revision and its time (and "modified" for a build from a
changed tree), and the Go version and platform. 'bp --version' prints the
same. Quote it when you report a problem.`,
		Example: `  bp version
  bp --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}

// versionText describes this binary from the build information the Go
// toolchain stamped into it.
func versionText() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = &debug.BuildInfo{GoVersion: runtime.Version()}
	}
	return describeBuild(info, runtime.GOOS+"/"+runtime.GOARCH)
}

// describeBuild is versionText for given build information:
//
//	bp v1.2.3
//	revision 9e48de2c5b1d… 2026-04-30T12:00:00Z (modified)
//	go1.26.8 linux/amd64
func describeBuild(info *debug.BuildInfo, platform string) string {
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "(modified)"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bp %s\n", version)
	if rev != "" {
		b.WriteString(strings.Join(strings.Fields("revision "+rev+" "+at+" "+modified), " ") + "\n")
	}
	fmt.Fprintf(&b, "%s %s\n", info.GoVersion, platform)
	return b.String()
}
