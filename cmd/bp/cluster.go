package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/natsrun"
	"github.com/bprun/bp/vault"
)

// natsFlags are the flags of bp serve and bp worker that join a cluster.
type natsFlags struct {
	url      string
	prefix   string
	replicas int
	ackWait  time.Duration
}

func (f *natsFlags) register(cmd *cobra.Command, required bool) {
	help := "NATS server with JetStream (nats://host:4222; several comma-separated)"
	if !required {
		help += ": queue runs there for bp worker processes instead of running them here"
	}
	cmd.Flags().StringVar(&f.url, "nats", "", help+"; default $BP_NATS")
	cmd.Flags().StringVar(&f.prefix, "nats-prefix", "bp", "first part of every stream, bucket and subject name, to keep several bp clusters apart on one NATS")
	cmd.Flags().IntVar(&f.replicas, "nats-replicas", 1, "servers that keep each stream and bucket (3 in a 3-node NATS cluster)")
	cmd.Flags().DurationVar(&f.ackWait, "nats-ack-wait", natsrun.DefaultAckWait, "how long a run stays with a worker that stopped reporting progress before another takes it (the failover time)")
}

// resolve fills the URL from $BP_NATS.
func (f *natsFlags) resolve() string {
	if f.url == "" {
		f.url = os.Getenv("BP_NATS")
	}
	return f.url
}

// connectTimeout bounds joining the cluster at start.
const connectTimeout = 30 * time.Second

// connect joins the cluster. Checkpoints are sealed under a key derived
// from the vault's master key, which every node has (BP_VAULT_KEY or
// BP_VAULT_KEY_FILE); without one they are off, and a dead worker's runs
// start again from their first block.
func (f *natsFlags) connect(ctx context.Context, name string, warn io.Writer) (*natsrun.Cluster, error) {
	if f.ackWait < time.Second {
		return nil, withCode(exitUsage, fmt.Errorf("--nats-ack-wait must be at least 1s"))
	}
	cfg := natsrun.Config{URL: f.url, Name: name, Prefix: f.prefix, Replicas: f.replicas, AckWait: f.ackWait}
	key, err := vault.ResolveKey(os.Getenv)
	switch {
	case errors.Is(err, vault.ErrNoKey):
		fmt.Fprintln(warn, "bp: warning: no vault master key: runs are not checkpointed, and a dead worker's runs start again from their first block")
	case err != nil:
		return nil, withCode(exitVault, err)
	default:
		sk, err := key.Derive(natsrun.SealPurpose)
		key.Zero()
		if err != nil {
			return nil, withCode(exitVault, fmt.Errorf("sealing checkpoints: %w", err))
		}
		cfg.SealKey = sk
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := natsrun.Connect(cctx, cfg)
	if err != nil {
		return nil, withCode(exitRunFailed, err)
	}
	return c, nil
}
