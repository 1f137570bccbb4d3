package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/runner"
)

func init() { subcommands = append(subcommands, newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	var (
		flags     runFlags
		secrets   secretsFlag
		load      loadFlags
		cluster   natsFlags
		dir       string
		runs      int
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the runs that bp serve --nats queues, on NATS JetStream",
		Long: `Take runs from the cluster's queue on NATS JetStream and run them: the
blueprints of --dir (the same files on every node), the vault file (--vault,
shipped read-only to every node, its master key in BP_VAULT_KEY or
BP_VAULT_KEY_FILE). Start as many workers as you like, on as many machines.

Each finished block of a run is checkpointed, sealed under a key derived from
the vault's master key. A worker that dies (killed, its machine gone) stops
reporting progress; after --nats-ack-wait another worker takes its runs and
resumes each after its last checkpointed block: blocks that finished are not
run again, the ones in flight may be (at least once per block; HTTP blocks send
an Idempotency-Key that is the same on every attempt). Each run ends with
exactly one record in the cluster's history, which bp serve --nats answers
from.

On SIGINT or SIGTERM the worker stops taking runs, stops the ones it runs and
gives them back to the queue unrecorded, where another worker resumes them
at once; then it exits 0.

Exit codes: 0 stopped by a signal, 1 cannot reach NATS, 2 bad usage, 3 vault
problem.`,
		Example: `  nats-server -js -sd /var/lib/nats &
  export BP_VAULT_KEY_FILE=/etc/bp/vault.key
  bp worker --nats nats://127.0.0.1:4222 --dir ./flows --vault /etc/bp/vault.db
  bp serve --nats nats://127.0.0.1:4222 --dir ./flows --addr 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			if cluster.resolve() == "" {
				return withCode(exitUsage, errors.New("--nats (or $BP_NATS) is required"))
			}
			if runs < 1 {
				return withCode(exitUsage, fmt.Errorf("--runs must be at least 1"))
			}
			if logFormat != "text" && logFormat != "json" {
				return withCode(exitUsage, fmt.Errorf("--log must be text or json, not %q", logFormat))
			}
			var handler slog.Handler = slog.NewTextHandler(stderr, nil)
			if logFormat == "json" {
				handler = slog.NewJSONHandler(stderr, nil)
			}
			logger := slog.New(handler)
			set, err := loadSet(dir, load)
			if err != nil {
				return err
			}
			if err := flags.checkPython(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			host, _ := os.Hostname()
			c, err := cluster.connect(ctx, fmt.Sprintf("bp worker %s/%d", host, os.Getpid()), stderr)
			if err != nil {
				return err
			}
			defer c.Close()
			src, err := secrets.source()
			if err != nil {
				return err
			}
			reg := blocks.Default(flags.blockOptions(dir))
			defer reg.Close()
			vaultPath, err := vaultPathOrEnv(flags.vaultPath)
			if err != nil {
				return withCode(exitVault, err)
			}
			// Runs share the vault's snapshot and their scrubbers until the
			// vault changes; nothing of it outlives the process.
			cache := runner.NewCache()
			defer cache.Clear()
			w := &runner.Worker{
				Runner: runner.New(runner.Options{
					Library:     runner.NewLibrary(set, reg),
					OpenVault:   flags.openVaultForRun,
					Cache:       cache,
					VaultPath:   vaultPath,
					Secrets:     src,
					History:     c.History(),
					MaxParallel: flags.maxParallel,
					Timeout:     flags.timeout,
				}),
				Queue:     c.Queue(),
				Journal:   c.Journal(),
				Relay:     c.Relay(),
				Runs:      runs,
				Heartbeat: max(cluster.ackWait/3, 200*time.Millisecond),
				Logger:    logger,
			}
			for _, fe := range set.Errors {
				logger.Warn("blueprint file not loaded", "error", fe)
			}
			logger.Info("working", "blueprints", len(set.Blueprints), "dir", dir, "runs", runs, "checkpoints", c.Sealed())
			err = w.Run(ctx)
			if ctx.Err() != nil {
				logger.Info("stopped: runs in progress given back to the queue")
				return nil
			}
			return withCode(exitRunFailed, err)
		},
	}
	flags.register(cmd)
	secrets.register(cmd)
	// Runs are recorded in the cluster's history.
	_ = cmd.Flags().MarkHidden("history")
	_ = cmd.Flags().MarkHidden("no-history")
	load.register(cmd)
	cluster.register(cmd, true)
	cmd.Flags().StringVar(&dir, "dir", ".", "directory (or file) of blueprints, the same on every node")
	cmd.Flags().IntVar(&runs, "runs", runner.DefaultWorkerRuns, "runs in progress at once")
	cmd.Flags().StringVar(&logFormat, "log", "text", "log format: text or json (log/slog)")
	return cmd
}
