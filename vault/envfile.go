package vault

import (
	"bytes"
	"fmt"
	"io"
)

// maxEnvFile bounds a .env file: larger is a mistake, and a value cut at
// the bound would be stored silently wrong.
const maxEnvFile = 64 << 20

// ParseEnv reads a .env file into name/value pairs for Import. The syntax is
// the common one of docker compose and dotenv:
//
//	# comment
//	export NAME=value            # "export " is optional; a " #..." tail is a comment
//	NAME="line1\nline2 \"q\""    # double quotes: \n \r \t \" \\ \$ escapes, may span lines
//	NAME='literal $x \n'         # single quotes: taken as is, may span lines
//
// Later lines win over earlier ones. No variable expansion is done: a value
// is stored exactly as written. Errors give the line number and never the
// line's text, which would hold the value.
func ParseEnv(r io.Reader) (map[string][]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxEnvFile+1))
	if err != nil {
		return nil, err
	}
	defer clear(data)
	if len(data) > maxEnvFile {
		return nil, fmt.Errorf("a .env file may hold at most %d bytes", maxEnvFile)
	}
	p := envParser{data: data, line: 1}
	out := map[string][]byte{}
	for {
		name, value, ok, err := p.next()
		if err != nil {
			for _, v := range out {
				clear(v)
			}
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if old, dup := out[name]; dup {
			clear(old)
		}
		out[name] = value
	}
}

type envParser struct {
	data []byte
	pos  int
	line int
}

func (p *envParser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{p.line}, args...)...)
}

func (p *envParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *envParser) skipBlank() {
	for p.pos < len(p.data) && (p.data[p.pos] == ' ' || p.data[p.pos] == '\t') {
		p.pos++
	}
}

// restOfLine consumes up to and including the next newline.
func (p *envParser) restOfLine() []byte {
	start := p.pos
	i := bytes.IndexByte(p.data[p.pos:], '\n')
	if i < 0 {
		p.pos = len(p.data)
		return p.data[start:]
	}
	p.pos += i + 1
	p.line++
	return p.data[start : start+i]
}

// next returns the next assignment, ok=false at the end of input.
func (p *envParser) next() (name string, value []byte, ok bool, err error) {
	for {
		if p.pos >= len(p.data) {
			return "", nil, false, nil
		}
		p.skipBlank()
		switch p.peek() {
		case '\n', '\r', '#', 0:
			p.restOfLine()
			continue
		}
		break
	}
	lineNo := p.line
	if bytes.HasPrefix(p.data[p.pos:], []byte("export")) && p.pos+6 < len(p.data) && (p.data[p.pos+6] == ' ' || p.data[p.pos+6] == '\t') {
		p.pos += 6
		p.skipBlank()
	}
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] != '=' && p.data[p.pos] != '\n' {
		p.pos++
	}
	if p.peek() != '=' {
		p.restOfLine()
		return "", nil, false, fmt.Errorf("line %d: expected NAME=VALUE", lineNo)
	}
	name = string(bytes.TrimRight(p.data[start:p.pos], " \t"))
	if err := checkName(name); err != nil {
		return "", nil, false, fmt.Errorf("line %d: %w", lineNo, err)
	}
	p.pos++ // '='
	p.skipBlank()
	switch p.peek() {
	case '"':
		value, err = p.quoted('"')
	case '\'':
		value, err = p.quoted('\'')
	default:
		v := bytes.TrimSuffix(p.restOfLine(), []byte("\r"))
		for i := 0; i < len(v); i++ {
			if v[i] == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
				v = v[:i]
				break
			}
		}
		value = bytes.Clone(bytes.TrimRight(v, " \t"))
	}
	if err != nil {
		return "", nil, false, err
	}
	return name, value, true, nil
}

// quoted reads a value in quotes q starting at the opening quote, then the
// rest of its line, which may only be blank or a comment.
func (p *envParser) quoted(q byte) ([]byte, error) {
	startLine := p.line
	p.pos++
	var v []byte
	for {
		if p.pos >= len(p.data) {
			clear(v)
			return nil, fmt.Errorf("line %d: unterminated %c quote", startLine, q)
		}
		c := p.data[p.pos]
		p.pos++
		switch {
		case c == q:
			p.skipBlank()
			if c := p.peek(); c != '\n' && c != '\r' && c != '#' && c != 0 {
				clear(v)
				return nil, p.errorf("unexpected text after the closing quote")
			}
			p.restOfLine()
			return v, nil
		case c == '\n':
			p.line++
			v = append(v, c)
		case c == '\\' && q == '"' && p.pos < len(p.data):
			e := p.data[p.pos]
			p.pos++
			switch e {
			case 'n':
				v = append(v, '\n')
			case 'r':
				v = append(v, '\r')
			case 't':
				v = append(v, '\t')
			case '"', '\\', '$':
				v = append(v, e)
			default:
				v = append(v, '\\', e)
				if e == '\n' {
					p.line++
				}
			}
		default:
			v = append(v, c)
		}
	}
}
