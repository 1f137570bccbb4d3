package runner_test

import (
	"context"
	"fmt"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
)

// secrets is a program's own secret store; the vault package's is bp's.
type secrets map[string]string

func (s secrets) Secret(_ context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", name, engine.ErrSecretNotFound)
	}
	return v, nil
}

func (s secrets) SecretNames(context.Context) ([]string, error) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	return names, nil
}

// A program runs a blueprint and watches its events through a sink. The
// runner scrubs every event before a sink sees it: the block that logs the
// secret shows *** instead.
func ExampleRunner_Run() {
	bp, err := blueprints.ParseNative("hello.bp.yaml", []byte(`
key: hello
vault: [TOKEN]
blocks:
  start: {type: apitrigger, outs: {trigger: log}}
  log: {type: logmessage, fields: {message: "token @{vault.TOKEN} for @{payload.name}"}, outs: {success: done}}
  done: {type: returnvalue, fields: {value: {greeting: "hello, @{payload.name}"}}}
`))
	if err != nil {
		panic(err)
	}
	reg := blocks.NewRegistry()
	blocks.Core(reg) // no HTTP, no Python: blocks.Default has them
	defer reg.Close()
	r := runner.New(runner.Options{
		Library: runner.NewLibrary(blueprints.NewSet([]*engine.Blueprint{bp}, nil), reg),
		Secrets: secrets{"TOKEN": "s3cr3t-token"},
	})
	sink := engine.SinkFunc(func(e *engine.Event) {
		if e.Kind == engine.BlockOutput {
			fmt.Println(e.Block, e.Message)
		}
	})
	res, err := r.Run(context.Background(), runner.Request{
		Blueprint: "hello",
		Payload:   map[string]any{"name": "Ada"},
		Sinks:     []engine.Sink{sink},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Return)
	// Output:
	// log token *** for Ada
	// returned map[greeting:hello, Ada]
}
