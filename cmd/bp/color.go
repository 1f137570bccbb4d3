package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// colorFlag is the root's --color: auto (the default), always or never.
const colorFlag = "color"

// checkColorFlag refuses a --color value other than auto, always, never.
func checkColorFlag(cmd *cobra.Command) error {
	switch mode, _ := cmd.Flags().GetString(colorFlag); mode {
	case "", "auto", "always", "never":
		return nil
	default:
		return withCode(exitUsage, fmt.Errorf("--color must be auto, always or never, not %q", mode))
	}
}

// useColor reports whether output to w gets colors: --color always or
// never says so; auto colors a terminal, unless NO_COLOR is set to
// anything (no-color.org) or TERM is dumb.
func useColor(cmd *cobra.Command, w io.Writer) bool {
	mode, _ := cmd.Flags().GetString(colorFlag)
	return colorWanted(mode, os.Getenv, isTerminal(w))
}

func colorWanted(mode string, getenv func(string) string, terminal bool) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}
