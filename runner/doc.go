// Package runner runs blueprints the way bp's CLI and server do: it wires
// the engine, the block types, the vault and the scrubber together, and
// sends every event of a run through one scrubbing sink, the only way out
// of a run, to the console, the JSON log, the run history and any sink an
// embedding program adds.
package runner
