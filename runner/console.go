package runner

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bprun/bp/engine"
)

// Console writes a run log for people: one line per finished block with
// its status, outcome and duration, the blocks' output as it comes, and
// the end of the run. Color is for terminals.
type Console struct {
	w     io.Writer
	color bool

	mu sync.Mutex
}

// NewConsole makes a console log writing to w (already scrubbed by the
// caller's stream scrubber, as a second line of defence).
func NewConsole(w io.Writer, color bool) *Console { return &Console{w: w, color: color} }

const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

func (c *Console) paint(code, s string) string {
	if !c.color {
		return s
	}
	return code + s + ansiReset
}

func (c *Console) Emit(e *engine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var line string
	indent := "  "
	where := ""
	if e.Scope != "" {
		where = c.paint(ansiDim, "["+e.Scope+"] ")
	}
	switch e.Kind {
	case engine.RunStarted:
		line = fmt.Sprintf("%s %s %s", c.paint(ansiBold, "▶"), c.paint(ansiBold, e.Blueprint), c.paint(ansiDim, "run "+e.Run))
		indent = ""
	case engine.BlockFinished:
		mark, color := "✓", ansiGreen
		switch e.Status {
		case engine.StatusFailed:
			mark, color = "✗", ansiRed
		case engine.StatusSkipped:
			mark, color = "–", ansiDim
		case engine.StatusCancelled:
			mark, color = "⊘", ansiYellow
		}
		outcome := e.Outcome
		if e.Status == engine.StatusSkipped {
			outcome = "skipped"
		}
		// The loop position and the name share the column, so that lines
		// inside a loop stay aligned with the others (where may be painted:
		// its escape codes take no room).
		width := utf8.RuneCountInString(e.Block)
		if e.Scope != "" {
			width += utf8.RuneCountInString("[" + e.Scope + "] ")
		}
		pad := strings.Repeat(" ", max(0, 16-width))
		line = fmt.Sprintf("%s %s%s%s %-14s %-16s %9s", c.paint(color, mark), where, e.Block, pad, e.Type, outcome, duration(e))
		if e.Message != "" && e.Status != engine.StatusSucceeded {
			line += "  " + c.paint(color, firstLineOf(e.Message))
		}
	case engine.BlockOutput:
		prefix := fmt.Sprintf("  %s%s %s ", where, c.paint(ansiDim, "│"), c.paint(ansiDim, e.Block+":"))
		if e.Stream == "stderr" || e.Stream == "log:error" {
			prefix = fmt.Sprintf("  %s%s %s ", where, c.paint(ansiRed, "│"), c.paint(ansiDim, e.Block+":"))
		}
		text := strings.TrimRight(e.Message, "\n")
		var b strings.Builder
		for _, l := range strings.Split(text, "\n") {
			b.WriteString(prefix + l + "\n")
		}
		io.WriteString(c.w, b.String())
		return
	case engine.RunWarning:
		who := ""
		if e.Block != "" {
			who = e.Block + ": "
		}
		line = c.paint(ansiYellow, "! "+where+who+e.Message)
	case engine.RunFinished:
		indent = ""
		color := ansiGreen
		switch e.Status {
		case engine.StatusFailed:
			color = ansiRed
		case engine.StatusCancelled:
			color = ansiYellow
		}
		line = fmt.Sprintf("%s %s in %s", c.paint(color, "■"), c.paint(color, e.Status), roundDuration(e.Duration))
		if e.Message != "" {
			line += ": " + e.Message
		}
	default:
		return
	}
	io.WriteString(c.w, indent+line+"\n")
}

func duration(e *engine.Event) string {
	if e.Status == engine.StatusSkipped {
		return ""
	}
	return roundDuration(e.Duration).String()
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
