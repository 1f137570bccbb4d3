package engine_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/bprun/bp/engine"
)

// shout is a block type of an embedding program's own: it reads its text
// field (a template) and succeeds with it in capitals.
type shout struct{}

func (shout) Spec() *engine.TypeSpec {
	return &engine.TypeSpec{
		Name: "shout", Doc: "Says its text louder.",
		Fields: []engine.FieldSpec{
			{Name: "text", Kind: engine.FieldText, Type: engine.TypeString, Required: true, Doc: "what to say"},
		},
		Outcomes: []string{"success", "error"},
	}
}

func (shout) Run(ctx context.Context, c *engine.Call) engine.Result {
	text, err := c.String("text")
	if err != nil {
		return engine.Failure(err)
	}
	return engine.Success(strings.ToUpper(text))
}

// types resolves block type names, as blocks.Registry does for bp's own.
type types map[string]engine.BlockType

func (t types) BlockType(name string) (engine.BlockType, bool) { bt, ok := t[name]; return bt, ok }

// A program adds its own block type: the engine compiles a blueprint that
// uses it, once, and runs it as often as it likes.
func Example_customBlockType() {
	bp := &engine.Blueprint{
		Key: "greeting",
		Blocks: []*engine.BlockSpec{
			{ID: "hello", Type: "shout", Fields: map[string]any{"text": "hello, @{payload.name}"}},
		},
	}
	prog, err := engine.Compile(bp, types{"shout": shout{}})
	if err != nil {
		panic(err)
	}
	sink := engine.SinkFunc(func(e *engine.Event) {
		if e.Kind == engine.BlockFinished {
			fmt.Println(e.Block, e.Outcome, e.Result)
		}
	})
	res := prog.Run(context.Background(), engine.RunOptions{Payload: map[string]any{"name": "Ada"}, Sink: sink})
	fmt.Println(res.Status, res.Err)

	// A field the type does not have is a problem before any run.
	bp.Blocks[0].Fields["txet"] = "typo"
	_, err = engine.Compile(bp, types{"shout": shout{}})
	fmt.Println(err != nil)
	// Output:
	// hello success HELLO, ADA
	// completed <nil>
	// true
}
