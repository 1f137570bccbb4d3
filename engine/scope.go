package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scope resolves the names a template can use, in this order: payload,
// result, results, message, context, item, itemId (and <prefix>_item),
// vault, state, then the keys of the state.
type scope struct {
	c *Call
	// field is the field being evaluated, for messages and warnings.
	field string
	// bound are the values of a templated expression's __tN variables.
	bound []any
}

// lookupBound resolves a templated expression's own variables, then names.
func (s *scope) lookupBound(name string) (any, bool) {
	if s.bound != nil && strings.HasPrefix(name, "__t") {
		if i, err := strconv.Atoi(name[3:]); err == nil && i >= 0 && i < len(s.bound) {
			return s.bound[i], true
		}
	}
	return s.lookup(name)
}

// lookup finds a top-level name. vault is not a value: it is handled by
// the evaluators, which only allow vault.NAME with a constant name.
func (s *scope) lookup(name string) (any, bool) {
	c := s.c
	switch name {
	case "payload":
		return c.r.payload, true
	case "result":
		return c.result()
	case "results":
		return c.resultsMap(), true
	case "message":
		return c.message()
	case "context":
		return c.contextValue(), true
	case "state":
		return c.r.sh.state.snapshot(), true
	case "vault":
		return nil, false
	}
	if v, ok := c.r.loopValue(name); ok {
		return v, true
	}
	if name[0] == '$' {
		return c.r.sh.env(name[1:])
	}
	return c.r.sh.state.get(name)
}

// secret reads a secret for a template.
func (s *scope) secret(name string) (string, error) {
	return s.c.secret(name)
}

// missing reports a path that names nothing: an error for native
// blueprints, null and a warning for Writer's, as Writer does.
func (s *scope) missing(src, why string) (any, error) {
	if s.c.r.prog.bp.Format == FormatWriter {
		s.c.Warn(fmt.Sprintf("field %s: @{%s}: %s; using null as Writer does", s.field, src, why))
		return nil, nil
	}
	return nil, &MissingError{Path: src, Reason: why}
}

// MissingError is a template path that names nothing.
type MissingError struct {
	Path   string
	Reason string
}

func (e *MissingError) Error() string { return fmt.Sprintf("@{%s}: %s", e.Path, e.Reason) }

// Is makes errors.Is(err, ErrNotFound) true for missing names.
func (e *MissingError) Is(target error) bool { return target == ErrNotFound }

// ErrSecretNotFound is wrapped by the error for a secret that is not in the
// vault or not listed by the blueprint.
var ErrSecretNotFound = errors.New("secret not found")

// ErrNoVault is wrapped when a run that has no vault reads a secret.
var ErrNoVault = errors.New("no vault is configured for this run")
