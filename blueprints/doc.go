// Package blueprints loads blueprint files into the engine's model
// (engine.Blueprint): native YAML/JSON files (*.bp.yaml, *.bp.yml,
// *.bp.json) and Writer Agent Builder .wf folders, unchanged.
//
// Loaders do not validate: block types, required fields, edges to missing
// blocks and cycles are the engine's job. They report what they could not
// represent as it was written (unknown keys, a list where a mapping belongs,
// duplicate ids) in Blueprint.LoadErrors, each with file, line and column,
// and fail only on a file that is not YAML or JSON at all.
//
// Files:
//   - load.go: Load, LoadFS, LoadFile; which files a directory scan reads
//   - set.go: Set, the blueprints of one Load by key, and failed files
//   - native.go: ParseNative, the native format (*.bp.yaml)
//   - yamlnode.go: YAML AST to plain values, with positions
//   - writer.go: ParseWriter, Writer's components-blueprints_*.jsonl
package blueprints
