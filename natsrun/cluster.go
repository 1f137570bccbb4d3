package natsrun

import (
	"context"
	"crypto/cipher"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how to reach the cluster and how to keep runs in it.
type Config struct {
	// URL is the NATS server (or servers, comma-separated).
	URL string
	// Name names this connection in the server's monitoring.
	Name string
	// Prefix starts every stream, bucket and subject name, so that
	// several bp clusters can share one NATS; "bp" when empty.
	Prefix string
	// Replicas is how many servers keep each stream and bucket (1, or 3
	// in a 3-node cluster). Zero means 1.
	Replicas int
	// SealKey seals checkpoints (AES-256-GCM); every process of the
	// cluster needs the same one. Derive it from the vault's master key
	// (vault.MasterKey.Derive). Without one, the journal is off: runs of
	// a dead worker start again from their first block.
	SealKey []byte
	// AckWait is how long a run's delivery stays with a worker that
	// stopped reporting progress before it goes to another: the failover
	// time after a worker dies. Zero means DefaultAckWait.
	AckWait time.Duration
	// HistoryTTL forgets records (and statuses) older than it; zero keeps
	// them.
	HistoryTTL time.Duration
	// CheckpointTTL forgets checkpoints of runs never recorded; zero means
	// DefaultCheckpointTTL.
	CheckpointTTL time.Duration
	// Prefetch is how many runs a process pulls at once for its workers;
	// each waits at most AckWait to start. Zero means DefaultPrefetch.
	Prefetch int
	// StatusTTL forgets the status of runs (queued, running); zero means
	// DefaultStatusTTL. A recorded run is answered from its record.
	StatusTTL time.Duration
	// Memory keeps everything in the servers' memory instead of files
	// (tests, benchmarks of the rest).
	Memory bool
}

// Defaults of Config.
const (
	DefaultAckWait       = 6 * time.Second
	DefaultCheckpointTTL = 7 * 24 * time.Hour
	DefaultStatusTTL     = 7 * 24 * time.Hour
	DefaultPrefetch      = 8
	// DuplicateWindow is how long the queue remembers run ids: a run
	// submitted again within it is not run again.
	DuplicateWindow = 2 * time.Minute
)

// Cluster is one process's connection to a bp cluster.
type Cluster struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream

	runs     jetstream.Stream
	workers  jetstream.Consumer
	cps      jetstream.Stream
	history  jetstream.KeyValue
	statuses jetstream.KeyValue
	aead     cipher.AEAD // nil without a SealKey

	queueOnce sync.Once
	queue     *queue

	names names
}

type names struct {
	runsStream, runsSubject, consumer string
	cpStream, cpSubject               string
	historyBucket, statusBucket       string
	events, cancel                    string
}

func newNames(prefix string) names {
	up := strings.ToUpper(prefix)
	return names{
		runsStream: up + "_RUNS", runsSubject: prefix + ".runs", consumer: prefix + "-workers",
		cpStream: up + "_CHECKPOINTS", cpSubject: prefix + ".cp.",
		historyBucket: prefix + "_history", statusBucket: prefix + "_status",
		events: prefix + ".events.", cancel: prefix + ".cancel.",
	}
}

var validPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Connect connects to NATS and creates (or updates) the streams, the
// consumer and the buckets bp needs.
func Connect(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "bp"
	}
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("nats prefix %q: want lower-case letters, digits and _", cfg.Prefix)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = DefaultStatusTTL
	}
	if cfg.CheckpointTTL <= 0 {
		cfg.CheckpointTTL = DefaultCheckpointTTL
	}
	c := &Cluster{cfg: cfg, names: newNames(cfg.Prefix)}
	if cfg.SealKey != nil {
		a, err := newSealer(cfg.SealKey)
		if err != nil {
			return nil, err
		}
		c.aead = a
	}
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if cfg.Name != "" {
		opts = append(opts, nats.Name(cfg.Name))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURL(cfg.URL), err)
	}
	c.nc = nc
	if err := c.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) setup(ctx context.Context) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	c.js = js
	storage, kvStorage := jetstream.FileStorage, jetstream.FileStorage
	if c.cfg.Memory {
		storage, kvStorage = jetstream.MemoryStorage, jetstream.MemoryStorage
	}
	n := c.names
	c.runs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.runsStream, Subjects: []string{n.runsSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: storage, Replicas: c.cfg.Replicas, Duplicates: DuplicateWindow,
		Description: "bp: runs waiting for a worker",
	})
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", n.runsStream, err)
	}
	c.workers, err = js.CreateOrUpdateConsumer(ctx, n.runsStream, jetstream.ConsumerConfig{
		Durable: n.consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait,
		MaxDeliver: -1, MaxAckPending: -1, Replicas: c.cfg.Replicas,
		Description: "bp: the workers",
	})
	if err != nil {
		return fmt.Errorf("nats: consumer %s: %w", n.consumer, err)
	}
	c.cps, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.cpStream, Subjects: []string{n.cpSubject + "*"}, Storage: storage, Replicas: c.cfg.Replicas,
		MaxAge: c.cfg.CheckpointTTL, Description: "bp: sealed per-block checkpoints of runs in progress",
	})
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", n.cpStream, err)
	}
	c.history, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.historyBucket, Storage: kvStorage, Replicas: c.cfg.Replicas, TTL: c.cfg.HistoryTTL,
		MaxValueSize: maxRecordSize, Description: "bp: run history (scrubbed), one record per run",
	})
	if err != nil {
		return fmt.Errorf("nats: bucket %s: %w", n.historyBucket, err)
	}
	c.statuses, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.statusBucket, Storage: kvStorage, Replicas: c.cfg.Replicas, TTL: c.cfg.StatusTTL,
		Description: "bp: status of runs not yet recorded",
	})
	if err != nil {
		return fmt.Errorf("nats: bucket %s: %w", n.statusBucket, err)
	}
	return nil
}

// Close drains the connection: what was published is sent.
func (c *Cluster) Close() error {
	if c.nc == nil {
		return nil
	}
	if c.queue != nil {
		c.queue.stop()
	}
	select {
	case <-c.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
	}
	err := c.nc.Drain()
	for deadline := time.Now().Add(5 * time.Second); c.nc.IsDraining() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	c.nc.Close()
	return err
}

// Conn is the underlying connection.
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// Sealed reports whether checkpoints are kept (a SealKey was given).
func (c *Cluster) Sealed() bool { return c.aead != nil }

var validRunID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// checkRunID refuses run ids that cannot be a subject token or a key.
func checkRunID(id string) error {
	if !validRunID.MatchString(id) {
		return fmt.Errorf("run id %q: want 1 to 128 letters, digits, - and _", shorten(id))
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// redactURL hides a password in a NATS URL for messages.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	if at < 0 {
		return u
	}
	scheme := ""
	if i := strings.Index(u, "://"); i >= 0 && i < at {
		scheme = u[:i+3]
	}
	return scheme + "***" + u[at:]
}
