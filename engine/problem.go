package engine

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a blueprint, found by a loader or by
// validation. It prints as "file:line:col: block: field: message".
type Problem struct {
	Pos     Pos
	Block   string // block id, empty for blueprint-level problems
	Field   string // field name, empty when not about one field
	Message string
}

func (p *Problem) Error() string {
	var b strings.Builder
	if s := p.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	// Ids, fields and messages hold text from the file: escaped and
	// shortened, so that printing a problem cannot drive a terminal.
	if p.Block != "" {
		b.WriteString(Short(p.Block))
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(Short(p.Field))
		b.WriteString(": ")
	}
	b.WriteString(Printable(cut(p.Message, maxMessageRunes)))
	return b.String()
}

// ValidationError holds every problem found in one blueprint.
type ValidationError struct {
	Blueprint string
	Problems  []*Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	if len(lines) == 1 {
		return fmt.Sprintf("blueprint %s is invalid: %s", Short(e.Blueprint), lines[0])
	}
	return fmt.Sprintf("blueprint %s is invalid (%d problems):\n  %s", Short(e.Blueprint), len(lines), strings.Join(lines, "\n  "))
}
