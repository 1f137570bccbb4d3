package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/bprun/bp/blueprints"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/server"
	"github.com/bprun/bp/vault"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// shutdownWait bounds how long bp serve waits, once told to stop, for the
// cancelled runs to end and the open answers to finish.
const shutdownWait = 10 * time.Second

// queueOption is --queue as server.Options.Queue, where 0 means the
// default and -1 none.
func queueOption(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// serveHistoryLockTimeout bounds how long bp serve waits at start for
// another process that holds the history file.
const serveHistoryLockTimeout = 5 * time.Second

// errReplicaVault refuses vault writes on a replica of a cluster: every
// node has a read-only copy of the vault file, changed in one place and
// shipped to all.
var errReplicaVault = fmt.Errorf("this bp serve is a replica of a cluster (--nats): %w here; change it with bp vault set where the vault file is kept, and ship the file to every node", vault.ErrReadOnly)

func newServeCmd() *cobra.Command {
	var (
		flags     runFlags
		secrets   secretsFlag
		load      loadFlags
		addr      string
		dir       string
		maxRuns   int
		queue     int
		queueWait time.Duration
		logFormat string
		tokenPath string
		maxConns  int
		maxBody   int64
		maxValues int
		keep      runner.Retention
		cluster   natsFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API: start runs, follow them, manage the vault",
		Long: `Load the blueprints in --dir and serve them over HTTP:

  POST   /v1/blueprints/{key}/runs     start a run; the body is the JSON payload (may be
                                       empty). 202 {"run": ID, "status": "running"}; with
                                       ?wait=1, the run's events as server-sent events,
                                       ending with "event: result" {run, status, return, error}
  GET    /v1/runs/{id}                 status, and once done the return value or error
  GET    /v1/runs/{id}/events          the run's events so far, as a JSON array
  GET    /v1/blueprints                keys, descriptions, validity and load errors
  PUT    /v1/vault/{name}              set a secret; the body is the value, byte for byte
  DELETE /v1/vault/{name}              remove a secret
  GET    /v1/vault                     names, versions and times; never values
  GET    /metrics                      Prometheus metrics (runs, durations, queue, history)
  GET    /healthz                      "ok", without a token

Every endpoint but /healthz requires "Authorization: Bearer TOKEN": the token
is $BP_SERVER_TOKEN, or, without it, the one in --token-file
($XDG_CONFIG_HOME/bp/serve-token), made (mode 0600) when missing; bp serve
logs where it is, never the token. Without BP_SERVER_TOKEN, bp serve listens
only on loopback (127.0.0.0/8, ::1, localhost).
Every answer is scrubbed of the vault's secrets; none holds a secret value.

Runs read a snapshot of the vault (--vault), are recorded in the run history
(--history). At most --max-runs run at once; up to --queue more requests wait
for one to end (each at most --queue-wait, else 503); beyond them, 429 with
Retry-After. The log (--log text or json) has one record per request and
every warning. bp serve holds
the history file while it serves: a run is answered as finished only once its
record is on disk (many runs share one disk flush), and a run that could not be
recorded says so in its answer ("history_error") and in the server log. Other
bp commands that read that file (bp runs, bp vault audit) wait for it to be
released. --keep-runs and --keep-for prune history in the background. The blueprints
in --dir are watched: a changed file is loaded and validated before it replaces
the version served; one that does not load or validate is reported (log,
/metrics, GET /v1/blueprints) and its previous version keeps serving. Runs in
progress finish on the version they started with. SIGHUP reloads too.

On SIGINT or SIGTERM, bp serve stops accepting connections, cancels the runs
in progress, waits up to 10s for them and their streams to end, and exits 0.

Exit codes: 0 stopped by a signal, 1 could not serve (address in use), 2 bad
usage (no token on a non-loopback address, unreadable --dir), 3 vault problem.`,
		Example: `  bp serve --dir ./flows
  BP_SERVER_TOKEN=$(openssl rand -hex 32) bp serve --addr 0.0.0.0:8080 --dir ./flows

  auth="Authorization: Bearer $(cat ~/.config/bp/serve-token)"
  curl -s -H "$auth" -X POST localhost:8080/v1/blueprints/weather/runs -d '{"city": "Oslo"}'
  curl -sN -H "$auth" -X POST 'localhost:8080/v1/blueprints/weather/runs?wait=1' -d '{"city": "Oslo"}'
  curl -s -H "$auth" localhost:8080/v1/runs/RUN_ID
  curl -s -H "Authorization: Bearer $BP_SERVER_TOKEN" host:8080/v1/runs/RUN_ID/events
  printf %s "$KEY" | curl -s -H "$auth" -X PUT --data-binary @- localhost:8080/v1/vault/WEATHER_KEY`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			if err := server.CheckListenAddr(addr, os.Getenv(server.TokenEnv)); err != nil {
				return withCode(exitUsage, err)
			}
			token, tokenFile, madeToken, err := serveToken(tokenPath)
			if err != nil {
				return withCode(exitUsage, err)
			}
			// Blueprints must not read the token: not through env:, and not
			// from the environment of a Python child.
			os.Unsetenv(server.TokenEnv)
			if maxRuns < 1 {
				return withCode(exitUsage, fmt.Errorf("--max-runs must be at least 1"))
			}
			if maxBody < 1 || maxValues < 1 || maxConns < 1 {
				return withCode(exitUsage, fmt.Errorf("--max-payload, --max-payload-values and --max-conns must be at least 1"))
			}
			if queue < 0 || queueWait <= 0 {
				return withCode(exitUsage, fmt.Errorf("--queue must not be negative, and --queue-wait must be positive"))
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
			if keep.MaxRuns < 0 || keep.MaxAge < 0 {
				return withCode(exitUsage, fmt.Errorf("--keep-runs and --keep-for must not be negative"))
			}
			// One history store for the whole server, held open: every run
			// is saved through it, group-committed.
			var history *runner.BoltHistory
			var store runner.HistoryStore
			var remote server.Remote
			if cluster.resolve() != "" {
				// Runs go to bp worker processes; the cluster's history is
				// shared by every replica.
				c, err := cluster.connect(cmd.Context(), "bp serve "+addr, stderr)
				if err != nil {
					return err
				}
				defer c.Close()
				store, remote = c.History(), c
			} else if !flags.noHistory {
				path, err := historyPath(flags.history)
				if err != nil {
					return withCode(exitUsage, err)
				}
				history, err = runner.OpenBoltHistory(path, runner.BoltOptions{LockTimeout: serveHistoryLockTimeout})
				if err != nil {
					return withCode(exitRunFailed, err)
				}
				defer history.Close()
				store = history
			}
			vaultPath, err := vaultPathOrEnv(flags.vaultPath)
			if err != nil {
				return withCode(exitVault, err)
			}
			opts := flags.blockOptions(dir)
			if tokenFile != "" {
				// The token is bp's: denied to code blocks wherever it is.
				opts.PythonDeny = append(opts.PythonDeny, tokenFile)
			}
			src, err := secrets.source()
			if err != nil {
				return err
			}
			reg := blocks.Default(opts)
			defer reg.Close()
			lib := runner.NewLibrary(set, reg)
			// Runs share the vault's snapshot and their scrubbers until the
			// vault changes; nothing of it outlives the process.
			cache := runner.NewCache()
			defer cache.Clear()
			srv := server.New(server.Options{
				Runner: runner.New(runner.Options{
					Library:     lib,
					OpenVault:   flags.openVaultForRun,
					Cache:       cache,
					VaultPath:   vaultPath,
					Secrets:     src,
					History:     store,
					MaxParallel: flags.maxParallel,
					Timeout:     flags.timeout,
				}),
				Library: lib,
				// A changed file is loaded, validated, and only then served;
				// SIGHUP reloads too.
				LoadBlueprints: func() (*blueprints.Set, error) { return loadSet(dir, load) },
				WatchDir:       dir,
				History:        store,
				Retention:      keep,
				OpenVault:      flags.openVaultForRun,
				OpenVaultRW: func() (*vault.Vault, error) {
					if remote != nil {
						return nil, errReplicaVault
					}
					// Created on first PUT when a master key is set, as
					// bp vault set does.
					return vault.OpenEnv(vaultPath, os.Getenv, vault.Options{LockTimeout: vault.DefaultLockTimeout, CreateIfMissing: true})
				},
				Remote:   remote,
				Token:    token,
				MaxConns: maxConns,
				MaxBody:  maxBody,
				// Zero would mean the default: the flags refuse it below.
				MaxPayloadValues: maxValues,
				Logger:           logger,
				MaxRuns:          maxRuns,
				Queue:            queueOption(queue),
				QueueWait:        queueWait,
			})

			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return withCode(exitRunFailed, err)
			}
			hs := srv.HTTPServer()
			logger.Info("serving", "blueprints", len(set.Blueprints), "dir", dir, "url", "http://"+ln.Addr().String())
			if tokenFile != "" {
				// Where the token is, never the token: only its owner reads it.
				verb := "read"
				if madeToken {
					verb = "made"
				}
				logger.Info("no "+server.TokenEnv+": requests need the bearer token in the token file, readable by this user only",
					"token_file", tokenFile, "token", verb, "example", `curl -H "Authorization: Bearer $(cat `+tokenFile+`)" `+"http://"+ln.Addr().String()+"/v1/blueprints")
			}
			for _, fe := range set.Errors {
				logger.Warn("blueprint file not loaded", "error", fe)
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					_ = srv.Reload()
				}
			}()
			served := make(chan error, 1)
			go func() { served <- hs.Serve(srv.Listener(ln)) }()
			select {
			case err := <-served:
				return withCode(exitRunFailed, err)
			case <-ctx.Done():
			}
			stop() // a second signal kills bp at once
			logger.Info("shutting down: cancelling the runs in progress")
			sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
			defer cancel()
			runsDone := make(chan error, 1)
			go func() { runsDone <- srv.Shutdown(sctx) }()
			// Streams end as their runs end; then the connections close.
			herr := hs.Shutdown(sctx)
			rerr := <-runsDone
			if err := errors.Join(rerr, herr); err != nil {
				logger.Warn("shutdown", "error", err)
			}
			return nil
		},
	}
	flags.register(cmd)
	secrets.register(cmd)
	load.register(cmd)
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (beyond loopback only with $BP_SERVER_TOKEN)")
	cmd.Flags().StringVar(&dir, "dir", ".", "directory (or file) of blueprints to serve")
	cmd.Flags().IntVar(&maxRuns, "max-runs", server.DefaultMaxRuns, "runs in progress at once; more wait in the queue")
	cmd.Flags().IntVar(&queue, "queue", server.DefaultQueue, "run requests that may wait for a run to end; beyond them, 429 with Retry-After (0: no queue)")
	cmd.Flags().DurationVar(&queueWait, "queue-wait", server.DefaultQueueWait, "how long a request may wait in the queue before it gets 503 (a request may ask for less with ?queue_wait=)")
	cmd.Flags().StringVar(&logFormat, "log", "text", "server log format: text or json (log/slog)")
	cmd.Flags().StringVar(&tokenPath, "token-file", "", "without $BP_SERVER_TOKEN, the file of the bearer token (made, mode 0600, when missing; default $XDG_CONFIG_HOME/bp/serve-token)")
	cmd.Flags().Int64Var(&maxBody, "max-payload", server.DefaultMaxBody, "largest payload (request body) in bytes")
	cmd.Flags().IntVar(&maxValues, "max-payload-values", server.DefaultMaxPayloadValues, "most JSON values in a payload (each scalar, array and object), counted as it arrives: what bounds a run's memory")
	cmd.Flags().IntVar(&maxConns, "max-conns", server.DefaultMaxConns, "open connections served; beyond them the oldest idle one is closed, else only /healthz answers")
	cmd.Flags().IntVar(&keep.MaxRuns, "keep-runs", 0, "history keeps this many runs, the newest, pruning in the background (0 keeps all)")
	cluster.register(cmd, false)
	cmd.Flags().DurationVar(&keep.MaxAge, "keep-for", 0, "history forgets runs older than this, in the background (e.g. 720h; 0 keeps all)")
	return cmd
}
