package blueprints

import (
	"fmt"

	"github.com/bprun/bp/engine"
)

// Limits bound what loading one file may cost, so that a hostile or broken
// file gets a clear error quickly and in little memory, whoever loads it
// (bp run, bp validate, a server). Each is checked before the work it
// bounds: the size before the file is read, nesting and the number of
// values before the YAML parser sees the text, and the values that aliases
// and merge keys produce while they are expanded.
type Limits struct {
	// MaxFileBytes is the largest blueprint file read (native or one Writer
	// .jsonl file). Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
}

const (
	// DefaultMaxFileBytes is 8 MiB: a blueprint of 2,000 blocks is 230
	// KiB, and 8 MiB of YAML parses in well under a second.
	DefaultMaxFileBytes = 8 << 20
	// MaxDepth is how deeply values may nest, in the file as written and
	// after expanding aliases.
	MaxDepth = 128
	// MaxValues is the most values (scalars, lists and mappings) one file
	// may hold, as written and after expanding aliases and merge keys.
	MaxValues = 1 << 18
)

func (l Limits) maxFileBytes() int64 {
	if l.MaxFileBytes <= 0 {
		return DefaultMaxFileBytes
	}
	return l.MaxFileBytes
}

// LimitError is a file that exceeds one of the Limits: nothing of it was
// loaded.
type LimitError struct {
	Pos     engine.Pos
	Message string
}

func (e *LimitError) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Message
	}
	return e.Message
}

// tooLarge is the error of a file over MaxFileBytes.
func tooLarge(name string, size, limit int64) error {
	return &LimitError{Pos: engine.Pos{File: name}, Message: fmt.Sprintf("the file is too large: %s, more than the limit of %s (raise it with --max-blueprint-size)", formatBytes(size), formatBytes(limit))}
}

// formatBytes writes a size the way people read it: 8 MiB, 300 KiB, 12 B.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
