package blueprints

import (
	"fmt"

	"github.com/bprun/bp/engine"
)

// checkShape measures how deeply a YAML (or JSON) text nests and how many
// values it holds, in one pass over its bytes and without building
// anything, and refuses a text over MaxDepth or MaxValues before a parser
// sees it: parsers recurse per level and allocate per value, and no limit
// that comes after them bounds what they cost.
//
// It reads YAML's structure only as far as counting needs: the columns of
// block collections (as YAML's own indentation stack), flow brackets, and
// which text cannot hold structure (quoted scalars, block scalars,
// comments). Where it is unsure it counts more, never less: a text it
// passes nests no deeper and holds no more values than it says.
//
// It returns the number of values it counted.
func checkShape(name string, data []byte) (int, error) {
	sh, err := measureShape(name, data)
	return sh.values, err
}

// shape is what checkShape measured: values and the deepest nesting.
type shape struct{ values, depth int }

func measureShape(name string, data []byte) (shape, error) {
	s := shapeScanner{data: data, line: 1, col: 1}
	err := s.scan(name)
	return shape{s.values, s.maxDepth}, err
}

type shapeScanner struct {
	data      []byte
	i         int
	line, col int   // of data[i], 1-based; col counts characters
	indents   []int // columns (0-based) of the open block collections
	flow      int   // open flow collections
	// flowKinds are the open flow collections' brackets, '[' with an
	// implicit single-pair mapping in it ([a: b]) as 'm': a level more.
	flowKinds []byte
	implicit  int // 'm's in flowKinds
	values    int
	maxDepth  int
	nodeStart bool // the next character that is not a space may start a value
	// afterColon: the value that may start is a mapping's, on its key's
	// line, which opens no block collection of its own.
	afterColon bool
	// atLineStart: startNode read to the start of a line.
	atLineStart bool
}

func (s *shapeScanner) peek(off int) byte {
	if s.i+off < len(s.data) {
		return s.data[s.i+off]
	}
	return 0
}

// advance moves past one byte, keeping line and column.
func (s *shapeScanner) advance() {
	c := s.data[s.i]
	s.i++
	switch {
	case c == '\n':
		s.line++
		s.col = 1
	case c&0xC0 != 0x80: // not a UTF-8 continuation byte
		s.col++
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 }

func (s *shapeScanner) fail(format string, args ...any) error {
	return &LimitError{Pos: engine.Pos{File: "", Line: s.line, Column: s.col}, Message: fmt.Sprintf(format, args...)}
}

// open counts a value that starts here, and the nesting it opens.
func (s *shapeScanner) value() error {
	s.values++
	if s.values > MaxValues {
		return s.fail("the file holds more than %d values; a blueprint this large is not supported", MaxValues)
	}
	return nil
}

func (s *shapeScanner) deeper() error {
	depth := len(s.indents) + s.flow + s.implicit
	s.maxDepth = max(s.maxDepth, depth)
	if depth > MaxDepth {
		return s.fail("values nested more than %d levels deep", MaxDepth)
	}
	return nil
}

func (s *shapeScanner) scan(name string) error {
	err := s.run()
	if le, ok := err.(*LimitError); ok {
		le.Pos.File = name
	}
	return err
}

func (s *shapeScanner) run() error {
	for s.i < len(s.data) {
		if err := s.scanLine(); err != nil {
			return err
		}
	}
	return nil
}

// scanLine reads from the start of a line to the start of the next one
// (or further, through a quoted scalar or a block scalar).
func (s *shapeScanner) scanLine() error {
	indent := 0
	for s.i < len(s.data) && (s.data[s.i] == ' ' || s.data[s.i] == '\t') {
		indent++
		s.advance()
	}
	if s.i >= len(s.data) {
		return nil
	}
	if c := s.data[s.i]; c == '\n' || c == '\r' || c == '#' {
		s.skipLine()
		return nil
	}
	if s.flow == 0 {
		// A line less indented closes the block collections it leaves.
		for len(s.indents) > 0 && s.indents[len(s.indents)-1] > indent {
			s.indents = s.indents[:len(s.indents)-1]
		}
		s.nodeStart = true
		s.afterColon = false
	}
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '\n' || c == '\r':
			s.skipLine()
			return nil
		case c == ' ' || c == '\t':
			s.advance()
			if s.peek(0) == '#' {
				s.skipLine()
				return nil
			}
			continue
		}
		if s.nodeStart {
			if err := s.startNode(); err != nil || s.atLineStart {
				s.atLineStart = false
				return err
			}
			continue
		}
		switch c {
		case ':':
			if s.flow > 0 && s.flowKinds[len(s.flowKinds)-1] == '[' {
				s.flowKinds[len(s.flowKinds)-1] = 'm'
				s.implicit++
				if err := s.deeper(); err != nil {
					return err
				}
			}
			if s.flow > 0 || isBlank(s.peek(1)) {
				// A mapping value, null when nothing follows: counted
				// here, so not again where it starts.
				if err := s.value(); err != nil {
					return err
				}
				s.nodeStart = true
				s.afterColon = true
			}
		case ',':
			if s.flow > 0 {
				s.nodeStart = true
				s.closeImplicit()
			}
		case '[', '{':
			if s.flow > 0 { // ends a plain scalar and opens a collection
				s.nodeStart = true
				continue
			}
		case ']', '}':
			s.closeFlow()
		}
		s.advance()
	}
	return nil
}

// startNode reads what may begin a value, at s.i.
func (s *shapeScanner) startNode() error {
	c := s.data[s.i]
	if s.flow == 0 && !s.afterColon && (len(s.indents) == 0 || s.indents[len(s.indents)-1] < s.col-1) {
		// A block collection opens here (a mapping or a list: the
		// entries tell): it is a value and a level of its own.
		s.indents = append(s.indents, s.col-1)
		if err := s.deeper(); err != nil {
			return err
		}
		if err := s.value(); err != nil {
			return err
		}
	}
	switch {
	case (c == '-' || c == '?') && isBlank(s.peek(1)) && s.flow == 0:
		s.advance() // "- " or "? ": an entry, whose value may follow on the line
		s.afterColon = false
		if c == '?' { // a key, and its value even if none is written
			if err := s.value(); err != nil {
				return err
			}
		}
		return s.value()
	case c == '[' || c == '{':
		s.advance()
		s.flow++
		s.flowKinds = append(s.flowKinds, c)
		if err := s.deeper(); err != nil {
			return err
		}
		s.afterColon = false
		if s.flow > 1 { // may be a key, with a value even if none is written
			if err := s.value(); err != nil {
				return err
			}
		}
		return s.value()
	case c == ']' || c == '}' || c == ',':
		s.nodeStart = false // an empty value; the main loop reads c
		return nil
	case c == '"' || c == '\'':
		s.nodeStart = false
		s.skipQuoted(c)
		return s.scalar()
	case (c == '|' || c == '>') && s.flow == 0:
		s.nodeStart = false
		parent := 0
		if len(s.indents) > 0 {
			parent = s.indents[len(s.indents)-1]
		}
		s.skipLine()
		s.skipBlockScalar(parent)
		s.atLineStart = true
		return s.value()
	case c == '&' || c == '!':
		// An anchor or a tag: the value follows, or is null. Its name
		// may end in ':', hiding a mapping value from the scan: count
		// both.
		for s.i < len(s.data) && !isBlank(s.data[s.i]) && (s.flow == 0 || !isFlowIndicator(s.data[s.i])) {
			s.advance()
		}
		if err := s.value(); err != nil {
			return err
		}
		return s.value()
	case c == '#':
		s.skipLine()
		s.atLineStart = true
		return nil
	}
	s.nodeStart = false // a plain scalar or an alias
	return s.scalar()
}

// scalar counts a scalar, as a value of its own except after a ':' (which
// counted it). In a flow collection it may also be an implicit mapping's
// key ([a: b]) or a key without a value ({a, b}): two.
func (s *shapeScanner) scalar() error {
	switch {
	case s.afterColon:
		s.afterColon = false
		return nil
	case s.flow > 0:
		if err := s.value(); err != nil {
			return err
		}
	}
	return s.value()
}

// closeImplicit ends the implicit mapping of the innermost flow list.
func (s *shapeScanner) closeImplicit() {
	if n := len(s.flowKinds); n > 0 && s.flowKinds[n-1] == 'm' {
		s.flowKinds[n-1] = '['
		s.implicit--
	}
}

func (s *shapeScanner) closeFlow() {
	if s.flow == 0 {
		return
	}
	s.closeImplicit()
	s.flow--
	s.flowKinds = s.flowKinds[:len(s.flowKinds)-1]
}

func isFlowIndicator(c byte) bool { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' }

// skipLine moves to the start of the next line (after \n, \r\n or \r).
func (s *shapeScanner) skipLine() {
	for s.i < len(s.data) && s.data[s.i] != '\n' && s.data[s.i] != '\r' {
		s.advance()
	}
	if s.i < len(s.data) && s.data[s.i] == '\r' {
		s.advance()
	}
	if s.i < len(s.data) && s.data[s.i] == '\n' {
		s.advance()
	}
}

// skipQuoted moves past a quoted scalar, which may span lines.
func (s *shapeScanner) skipQuoted(q byte) {
	s.advance()
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '\\' && q == '"':
			s.advance()
			if s.i < len(s.data) {
				s.advance()
			}
			continue
		case c == q && q == '\'' && s.peek(1) == '\'':
			s.advance()
		case c == q:
			s.advance()
			return
		}
		s.advance()
	}
}

// skipBlockScalar moves past the lines of a block scalar (| or >): blank
// lines and lines indented more than its parent collection.
func (s *shapeScanner) skipBlockScalar(parent int) {
	for s.i < len(s.data) {
		j, indent := s.i, 0
		for j < len(s.data) && (s.data[j] == ' ' || s.data[j] == '\t') {
			j++
			indent++
		}
		blank := j == len(s.data) || s.data[j] == '\n' || s.data[j] == '\r'
		if !blank && indent <= parent {
			return
		}
		s.skipLine()
	}
}
