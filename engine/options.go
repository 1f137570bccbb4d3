package engine

import (
	"context"
	"time"
)

// RunOptions configure one run of a program.
type RunOptions struct {
	// RunID identifies the run in events; a new UUID when empty.
	RunID string
	// Payload is @{payload}, and what triggers return.
	Payload any
	// Context is @{context} (Writer's event context).
	Context map[string]any
	// State is the initial state. The run never modifies the map given.
	State map[string]any
	// Trigger names the block to start at; empty starts at every trigger,
	// else at every block with no incoming edge.
	Trigger string
	// Sink receives the run's events. Wrap it with the scrubber before it
	// reaches anything outside the process.
	Sink Sink
	// Secrets is the vault the run reads @{vault.NAME} from; nil means
	// the run has no vault, and reading a secret is an error.
	Secrets SecretSource
	// OnSecret is called with every secret value the run can see, and
	// every value a block masks at run time, before any event that could
	// contain it is emitted: the scrubber registers them here.
	OnSecret func(value string)
	// SecretsMasked says that the caller gave the scrubber every value of
	// Secrets that the blueprint being run may read before it started the
	// run (runner.Runner does). The run then opens a value only when a
	// block reads it, and calls OnSecret only for the values of the
	// blueprints it calls: its start costs nothing per secret.
	SecretsMasked bool
	// OnSecretRead is called the first time each block reads a secret,
	// for the audit log. It never gets the value.
	OnSecretRead func(name, block string)
	// MaxParallel bounds how many blocks of one run (or loop iteration)
	// run at once. Zero means DefaultMaxParallel.
	MaxParallel int
	// Timeout bounds the whole run; zero means no bound.
	Timeout time.Duration
	// Library finds the blueprints runblueprint calls.
	Library Library
	// LookupEnv reads the environment variables a blueprint lists under
	// env:. Nil means none can be read.
	LookupEnv func(name string) (string, bool)
	// Journal, when set, keeps the run's per-block checkpoints, and resumes
	// the run from those a previous attempt with the same RunID recorded
	// (see Journal). Nil: no checkpoints, as for a run on one machine.
	Journal Journal
}

// DefaultMaxParallel is the default bound on blocks running at once. Most
// blocks wait on I/O (HTTP, child processes), so it is well above the
// number of cores.
const DefaultMaxParallel = 128

// MaxDepth bounds how deeply runblueprint calls may nest.
const MaxDepth = 32

// SecretSource is the vault as a run sees it. Implementations must be safe
// for concurrent use.
type SecretSource interface {
	// Secret returns a secret's value, or an error wrapping
	// ErrSecretNotFound that names it.
	Secret(ctx context.Context, name string) (string, error)
	// SecretNames lists the secrets in the vault.
	SecretNames(ctx context.Context) ([]string, error)
}

// Library finds compiled blueprints by key, for runblueprint.
type Library interface {
	Program(key string) (*Program, error)
}

// RunResult is how a run ended.
type RunResult struct {
	RunID     string
	Blueprint string
	// Status is StatusCompleted, StatusReturned, StatusFailed or
	// StatusCancelled.
	Status string
	// Return is the value of the returnvalue block that ended the run.
	Return    any
	HasReturn bool
	// Err says why a failed or cancelled run ended.
	Err      error
	Duration time.Duration
}
