// Package examples holds the blueprints bundled with bp: the one bp demo
// runs, and examples to start from.
package examples

import "embed"

// FS holds the example blueprints, at its root.
//
//go:embed *.bp.yaml
var FS embed.FS
