package pyrun

import (
	"context"
	"errors"
	"fmt"

	"github.com/bprun/bp/internal/sandbox"
)

// ErrUnsupported is New's error on Windows: the runner talks to Python
// over inherited pipe descriptors and process groups, which Windows does
// not have; code blocks need Linux or macOS (or WSL) for now.
var ErrUnsupported = errors.New("code blocks run on Linux and macOS only; on Windows, run bp under WSL")

// Runner runs Python blocks; on Windows there is none (see New).
type Runner struct{}

// New fails on Windows with ErrUnsupported.
func New(opts Options) (*Runner, error) {
	return nil, fmt.Errorf("pyrun: %w", ErrUnsupported)
}

// Python, Version, Mode, Sandbox, Start, Run, EndSessions and Close are
// those of the other systems' Runner, for a Runner New never returns.

func (r *Runner) Python() string          { return "" }
func (r *Runner) Version() string         { return "" }
func (r *Runner) Mode() Mode              { return ModeFresh }
func (r *Runner) Sandbox() sandbox.Status { return sandbox.Status{Reason: ErrUnsupported.Error()} }
func (r *Runner) Start(context.Context) error {
	return ErrUnsupported
}
func (r *Runner) Run(context.Context, *Request, Handler) (*Response, error) {
	return nil, ErrUnsupported
}
func (r *Runner) EndSessions(prefix string) {}
func (r *Runner) Close() error              { return nil }
