// Package engine compiles and runs blueprints: directed graphs of blocks
// whose fields are templates.
//
// It works as a pipeline, one stage per file:
//
//   - blueprint.go: the model loaders produce (Blueprint, BlockSpec, Edge).
//   - blocktype.go: what a block type is (BlockType, TypeSpec). The engine
//     knows no block type; package blocks implements them, as database/sql
//     drivers implement database/sql.
//   - template.go, path.go, expr.go: @{...} templates, parsed once at load
//     into literal text, plain paths walked directly, and expr-lang programs
//     compiled once.
//   - compile.go: validation (every problem at once) and compilation into a
//     Program, which many runs share.
//   - region.go: which blocks a run executes, from its start blocks, with
//     each foreach loop's branch as a region of its own.
//   - run.go: the scheduler. A block runs when all its incoming edges are
//     decided and one was taken; it is skipped when none was. Ready blocks
//     run on at most MaxParallel workers; a chain of blocks runs in one
//     goroutine with no handoff.
//   - call.go: Call, the block's view of its run: fields, state, secrets,
//     output, loops and calls of other blueprints.
//   - event.go: the events a run emits to its one Sink.
//
// Secrets enter a run only through a SecretSource, and every value the run
// can see is handed to RunOptions.OnSecret before the first event, so the
// scrubber behind the sink knows them all (or, with SecretsMasked, the
// caller gave them to it before the run).
package engine
