package engine

import (
	"reflect"
	"sync"
	"testing"
)

func TestAppendIsSafeWhenListsAreShared(t *testing.T) {
	s := newStateStore(nil)
	for i := 0; i < 3; i++ {
		if _, err := s.appendTo("l", i); err != nil {
			t.Fatal(err)
		}
	}
	// Another key now holds the very same list, as setstate copy = @{l}
	// would store it.
	shared, _ := s.get("l")
	if _, err := s.update("copy", func(any, bool) (any, error) { return shared, nil }); err != nil {
		t.Fatal(err)
	}
	s.appendTo("l", "x")
	s.appendTo("copy", "y")
	l, _ := s.get("l")
	c, _ := s.get("copy")
	if !reflect.DeepEqual(l, []any{0, 1, 2, "x"}) || !reflect.DeepEqual(c, []any{0, 1, 2, "y"}) {
		t.Errorf("l %v copy %v: one append overwrote the other", l, c)
	}
	if !reflect.DeepEqual(shared, []any{0, 1, 2}) {
		t.Errorf("a reader's list changed: %v", shared)
	}
}

func TestConcurrentAppends(t *testing.T) {
	s := newStateStore(nil)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				s.appendTo("a.l", i*1000+j)
				v, _ := s.get("a")
				_ = len(v.(map[string]any)["l"].([]any))
			}
		}(i)
	}
	wg.Wait()
	v, _ := s.get("a")
	if n := len(v.(map[string]any)["l"].([]any)); n != 800 {
		t.Errorf("%d items, want 800", n)
	}
}
