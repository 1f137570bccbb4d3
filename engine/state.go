package engine

import (
	"fmt"
	"strings"
	"sync"
)

// stateStore is a run's state: one map shared by every block of the run,
// including loop iterations and called blueprints. Writers copy the maps on
// the path they change instead of changing them in place, so a value a
// reader got earlier never changes under it, and blocks running in parallel
// never race.
type stateStore struct {
	mu   sync.RWMutex
	root map[string]any
	// owned remembers, per state path, the list appendTo made last. Only
	// that list may grow in place: its spare capacity is the store's own,
	// while a list that came from anywhere else may share its backing
	// array with another key or a reader.
	owned map[string]ownedList
	// version counts the changes, so that a checkpoint carries the state
	// only when it changed.
	version uint64
}

type ownedList struct {
	first *any
	len   int
}

func newStateStore(initial map[string]any) *stateStore {
	if initial == nil {
		initial = map[string]any{}
	}
	return &stateStore{root: initial}
}

// snapshotVersion is the whole state and its version, read together.
func (s *stateStore) snapshotVersion() (map[string]any, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root, s.version
}

// snapshot is the whole state. Callers must not modify it.
func (s *stateStore) snapshot() map[string]any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root
}

func (s *stateStore) get(key string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.root[key]
	return v, ok
}

// splitStatePath splits a dotted state path; a\.b is a literal dot.
func splitStatePath(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("empty state element")
	}
	var parts []string
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '.':
			b.WriteByte('.')
			i++
		case p[i] == '.':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(p[i])
		}
	}
	parts = append(parts, b.String())
	for _, s := range parts {
		if s == "" {
			return nil, fmt.Errorf("state element %q has an empty segment", p)
		}
	}
	return parts, nil
}

// update replaces the value at a dotted path with fn(old), creating maps on
// the way and copying every map it changes.
func (s *stateStore) update(p string, fn func(old any, exists bool) (any, error)) (any, error) {
	keys, err := splitStatePath(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var result any
	root, err := setIn(s.root, keys, p, func(old any, ok bool) (any, error) {
		v, err := fn(old, ok)
		result = v
		return v, err
	})
	if err != nil {
		return nil, err
	}
	s.root = root
	s.version++
	return result, nil
}

func setIn(m map[string]any, keys []string, full string, fn func(any, bool) (any, error)) (map[string]any, error) {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	old, ok := m[keys[0]]
	if len(keys) == 1 {
		v, err := fn(old, ok)
		if err != nil {
			return nil, err
		}
		out[keys[0]] = v
		return out, nil
	}
	var child map[string]any
	switch t := old.(type) {
	case map[string]any:
		child = t
	case nil:
		child = map[string]any{}
	default:
		return nil, fmt.Errorf("state element %s: %s is not an object", full, keys[0])
	}
	nc, err := setIn(child, keys[1:], full, fn)
	if err != nil {
		return nil, err
	}
	out[keys[0]] = nc
	return out, nil
}

// appendTo appends a value to the list at a dotted path, creating it.
// Appending to the list it made last is amortized O(1); a reader holding
// an earlier list sees only its own length, never the new slot.
func (s *stateStore) appendTo(element string, value any) ([]any, error) {
	keys, err := splitStatePath(element)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []any
	root, err := setIn(s.root, keys, element, func(old any, _ bool) (any, error) {
		var list []any
		switch t := old.(type) {
		case nil:
		case []any:
			list = t
		default:
			return nil, fmt.Errorf("state element %s is not a list", element)
		}
		own, ok := s.owned[element]
		if ok && len(list) > 0 && own.first == &list[0] && own.len == len(list) {
			out = append(list, value)
		} else {
			out = make([]any, len(list), 2*len(list)+4)
			copy(out, list)
			out = append(out, value)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	s.root = root
	s.version++
	if s.owned == nil {
		s.owned = map[string]ownedList{}
	}
	s.owned[element] = ownedList{first: &out[0], len: len(out)}
	return out, nil
}

// merge sets and deletes top-level keys at once (a code block's changes).
func (s *stateStore) merge(set map[string]any, deleted []string) {
	if len(set) == 0 && len(deleted) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]any, len(s.root)+len(set))
	for k, v := range s.root {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	for _, k := range deleted {
		delete(out, k)
	}
	s.root = out
	s.version++
}
