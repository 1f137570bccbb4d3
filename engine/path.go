package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// path is a parsed plain template path such as a.b.0, a[key] or a\.b. It is
// walked directly over the run's data, without expr-lang, because it is by
// far the most common template and Writer's files use nothing else.
type path struct {
	src   string
	elems []pathElem
}

// pathElem is one step of a path: a literal key, or a key computed from
// another path (a[key]).
type pathElem struct {
	key string
	sub *path
}

// parsePath parses src as a plain path. It returns ok=false when src is not
// a plain path (it is then an expression). loose accepts any character but
// separators in a segment, as Writer's evaluator does.
func parsePath(src string, loose bool) (*path, bool) {
	p := &path{src: src}
	i, ok := p.parse(src, 0, loose, false)
	if !ok || i != len(src) || len(p.elems) == 0 {
		return nil, false
	}
	return p, true
}

// parse reads elements from src[i:] until the end or, when nested, a
// closing bracket. It returns the index it stopped at.
func (p *path) parse(src string, i int, loose, nested bool) (int, bool) {
	expectSegment := true
	for i < len(src) {
		c := src[i]
		switch {
		case c == ']' && nested:
			return i, !expectSegment
		case c == '.':
			if expectSegment {
				return i, false
			}
			expectSegment = true
			i++
		case c == '[':
			if expectSegment && len(p.elems) == 0 {
				return i, false
			}
			if i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\'') {
				// a["key"]: a constant key, as Writer writes vault["NAME"].
				q := src[i+1]
				end := strings.IndexByte(src[i+2:], q)
				if !loose || end < 0 || i+2+end+1 >= len(src) || src[i+2+end+1] != ']' {
					return i, false
				}
				p.elems = append(p.elems, pathElem{key: src[i+2 : i+2+end]})
				expectSegment = false
				i = i + 2 + end + 2
				continue
			}
			sub := &path{}
			j, ok := sub.parse(src, i+1, loose, true)
			if !ok || j >= len(src) || src[j] != ']' || len(sub.elems) == 0 {
				return i, false
			}
			sub.src = src[i+1 : j]
			if n, err := strconv.Atoi(sub.src); err == nil && n >= 0 {
				p.elems = append(p.elems, pathElem{key: sub.src})
			} else {
				p.elems = append(p.elems, pathElem{sub: sub})
			}
			expectSegment = false
			i = j + 1
		default:
			if !expectSegment {
				return i, false
			}
			var b strings.Builder
			start := i
			for i < len(src) {
				c := src[i]
				if c == '\\' && i+1 < len(src) && src[i+1] == '.' {
					b.WriteByte('.')
					i += 2
					continue
				}
				if !segmentByte(c, loose, i == start && len(p.elems) == 0) {
					break
				}
				b.WriteByte(c)
				i++
			}
			if b.Len() == 0 {
				return i, false
			}
			p.elems = append(p.elems, pathElem{key: b.String()})
			expectSegment = false
		}
	}
	return i, !expectSegment && !nested
}

func segmentByte(c byte, loose, first bool) bool {
	switch {
	case c == '.' || c == '[' || c == ']' || c == '\\':
		return false
	case loose:
		return c > ' ' && c != '}'
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		return true
	case c == '$':
		return first
	case c >= '0' && c <= '9', c == '-':
		return !first
	}
	return false
}

// root is the name the path starts at.
func (p *path) root() string { return p.elems[0].key }

// eval walks the path over the scope's data.
func (p *path) eval(s *scope) (any, error) {
	root := p.elems[0].key
	var v any
	rest := p.elems[1:]
	switch {
	case root == "vault":
		// Checked at compile time: a constant name follows.
		val, err := s.secret(rest[0].key)
		if err != nil {
			return nil, err
		}
		v, rest = val, rest[1:]
	case root == "results" && len(rest) > 0 && rest[0].sub == nil:
		// One block's result, without building the map of all of them.
		o, ok := s.c.r.outcomeOf(rest[0].key)
		if !ok || o.status == StatusSkipped {
			return s.missing(p.src, fmt.Sprintf("block %q has no result (it does not exist, or has not run)", rest[0].key))
		}
		v, rest = o.value, rest[1:]
	default:
		var ok bool
		v, ok = s.lookup(root)
		if !ok {
			return s.missing(p.src, fmt.Sprintf("no name %q", root))
		}
	}
	base := len(p.elems) - len(rest)
	for i, e := range rest {
		key := e.key
		if e.sub != nil {
			k, err := e.sub.eval(s)
			if err != nil {
				return nil, err
			}
			key = keyString(k)
		}
		next, ok := index(v, key)
		if !ok {
			return s.missing(p.src, fmt.Sprintf("%s has no key %q", p.prefix(base+i), key))
		}
		v = next
	}
	return v, nil
}

// prefix is the source of the path's first n elements, for messages.
func (p *path) prefix(n int) string {
	var b strings.Builder
	for i, e := range p.elems[:n] {
		switch {
		case e.sub != nil:
			b.WriteString("[" + e.sub.src + "]")
		case i > 0:
			b.WriteString("." + strings.ReplaceAll(e.key, ".", `\.`))
		default:
			b.WriteString(strings.ReplaceAll(e.key, ".", `\.`))
		}
	}
	return b.String()
}

// index looks key up in a JSON-like value: a map by key, a list by position.
func index(v any, key string) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		x, ok := t[key]
		return x, ok
	case []any:
		n, err := strconv.Atoi(key)
		if err != nil || n < 0 || n >= len(t) {
			return nil, false
		}
		return t[n], true
	case map[string]string:
		x, ok := t[key]
		return x, ok
	case []string:
		n, err := strconv.Atoi(key)
		if err != nil || n < 0 || n >= len(t) {
			return nil, false
		}
		return t[n], true
	}
	return nil, false
}

// keyString turns a computed key into the string it indexes with.
func keyString(k any) string {
	switch t := k.(type) {
	case string:
		return t
	case float64:
		if t == float64(int64(t)) {
			return strconv.FormatInt(int64(t), 10)
		}
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	}
	return textOf(k)
}
