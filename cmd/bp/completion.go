package main

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
)

// Shell completion: cobra's 'bp completion bash|zsh|fish|powershell'
// writes the script, which asks 'bp __complete ...' for the words. These
// functions give it what only bp knows: the blueprints' keys and block ids
// in the files named on the command line, and the vault's secret names
// (never a value).

// completeBlueprintKeys completes --blueprint with the keys of the
// blueprints at the command's PATH argument.
func completeBlueprintKeys(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	set, err := blueprints.Load(args[0])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withPrefix(set.Keys(), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeTriggers completes --trigger with the ids of the trigger blocks
// of the blueprint the command would run (its --blueprint, or the only one
// at PATH).
func completeTriggers(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	set, err := blueprints.Load(args[0])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var bp *engine.Blueprint
	if key, _ := cmd.Flags().GetString("blueprint"); key != "" {
		bp, err = set.Get(key)
	} else {
		bp, err = set.Only()
	}
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	// The trigger types are among the core ones, which hold no resources.
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	var ids []string
	for _, b := range bp.Blocks {
		if t, ok := reg.BlockType(b.Type); ok && t.Spec().Trigger {
			ids = append(ids, b.ID)
		}
	}
	return withPrefix(ids, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completionLockTimeout is how long completing a secret name waits for a
// vault that another process holds: a shell must not hang on a TAB.
const completionLockTimeout = 300 * time.Millisecond

// completeSecretNames completes a command's NAME argument with the names
// in the vault, read-only, with the key the command itself would use.
func (f *vaultFlags) completeSecretNames(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	quick := *f
	quick.lockTimeout = min(f.lockTimeout, completionLockTimeout)
	v, err := quick.open(true, false)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer v.Close()
	metas, err := v.List()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, len(metas))
	for i, m := range metas {
		names[i] = m.Name
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// withPrefix is the words that start with prefix, sorted.
func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}
