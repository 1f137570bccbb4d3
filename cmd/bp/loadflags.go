package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blueprints"
)

// loadFlags are the flags of the commands that load blueprints.
type loadFlags struct {
	maxSize string
}

func (f *loadFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.maxSize, "max-blueprint-size", "", "largest blueprint file to read, e.g. 32MiB (default $BP_MAX_BLUEPRINT_SIZE, else 8MiB)")
}

// limits are the loader's limits from the flag, else the environment.
func (f *loadFlags) limits() (blueprints.Limits, error) {
	v := f.maxSize
	if v == "" {
		v = os.Getenv("BP_MAX_BLUEPRINT_SIZE")
	}
	if v == "" {
		return blueprints.Limits{}, nil
	}
	n, err := parseByteSize(v)
	if err != nil {
		return blueprints.Limits{}, withCode(exitUsage, fmt.Errorf("max blueprint size: %w", err))
	}
	return blueprints.Limits{MaxFileBytes: n}, nil
}

// parseByteSize reads 1048576, 512KiB, 8MiB, 1GiB, 5MB or 300KB.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 1e3, "mb": 1e6, "gb": 1e9}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n < 1 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size (write 8MiB, 32MiB or a number of bytes)", s)
	}
	return n * mult, nil
}
