// Package natsrun runs bp past one machine, on NATS JetStream: a queue of
// runs that workers consume (runner.Queue), the run history in a
// key-value bucket (runner.HistoryStore), sealed per-block checkpoints
// (engine.Journal) and live events and cancellations on subjects
// (runner.Relay). A worker that dies leaves its runs to the others, which
// resume them after their last checkpointed block.
//
// The core packages (engine, runner, blocks, server) do not import it: a
// program that embeds bp without a cluster does not link NATS.
//
//	c, err := natsrun.Connect(ctx, natsrun.Config{URL: "nats://127.0.0.1:4222", SealKey: key})
//	w := &runner.Worker{Runner: runner.New(runner.Options{..., History: c.History()}),
//		Queue: c.Queue(), Journal: c.Journal(), Relay: c.Relay()}
//	err = w.Run(ctx)
//
// What lives where, for a cluster whose names start with Config.Prefix
// ("bp"):
//
//	stream BP_RUNS       subject bp.runs           the queue: one message per run, its id the message id
//	consumer bp-workers  on BP_RUNS                shared by every worker: one delivery at a time per run
//	stream BP_CHECKPOINTS subjects bp.cp.<run>     sealed checkpoints, purged once the run is recorded
//	bucket bp_history    key <run>                 the final record of each run, scrubbed, created once
//	bucket bp_status     key <run>                 queued or running, while the run has no record
//	subject bp.events.<run>                        live events, scrubbed (core NATS: at most once)
//	subject bp.cancel.<run>                        cancellation requests
package natsrun
