package vault

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadersAndWriter runs 8 readers opening the vault read-only over and
// over while a writer sets values. Each open takes its own file lock (flock
// is per open file, so goroutines contend as processes would). Every reader
// must succeed and see a value the writer wrote; the writer succeeds or
// reports ErrLocked within its bound.
func TestReadersAndWriter(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "X", "value-0")
	v.Close()

	const readers = 8
	deadline := time.Now().Add(time.Second)
	var reads, writes, locked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r, err := Open(path, key, Options{ReadOnly: true, LockTimeout: 10 * time.Second})
				if err != nil {
					errs <- fmt.Errorf("reader open: %w", err)
					return
				}
				val, err := r.Get("X")
				r.Close()
				if err != nil {
					errs <- fmt.Errorf("reader get: %w", err)
					return
				}
				var n int
				if _, err := fmt.Sscanf(string(val), "value-%d", &n); err != nil {
					errs <- fmt.Errorf("reader got a value the writer never wrote")
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		const bound = 500 * time.Millisecond
		for i := 1; time.Now().Before(deadline); i++ {
			start := time.Now()
			w, err := Open(path, key, Options{LockTimeout: bound})
			if errors.Is(err, ErrLocked) {
				if d := time.Since(start); d > bound+time.Second {
					errs <- fmt.Errorf("writer reported the lock after %v, bound %v", d, bound)
					return
				}
				locked.Add(1)
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("writer open: %w", err)
				return
			}
			err = w.Set("X", fmt.Appendf(nil, "value-%d", i))
			w.Close()
			if err != nil {
				errs <- fmt.Errorf("writer set: %w", err)
				return
			}
			writes.Add(1)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d reads, %d writes, writer locked out %d times", reads.Load(), writes.Load(), locked.Load())
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
}

// TestConcurrentGet shares one read-only Vault between goroutines, as a run
// with parallel blocks does.
func TestConcurrentGet(t *testing.T) {
	v, path, key := newVault(t)
	mustSet(t, v, "X", "shared")
	v.Close()
	r := reopen(t, path, key, Options{ReadOnly: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if got, err := r.Get("X"); err != nil || string(got) != "shared" {
					t.Errorf("Get = %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestConcurrentFirstUse has several writers find no vault at once (the
// first 'bp vault set' on a machine, twice): one creates it, the others
// open what it created.
func TestConcurrentFirstUse(t *testing.T) {
	path := tempDir(t) + "/vault.db"
	key := GenerateMasterKey()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := Open(path, key, Options{CreateIfMissing: true})
			if err != nil {
				t.Error(err)
				return
			}
			defer v.Close()
			if err := v.Set(fmt.Sprintf("S%d", i), []byte("value")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r := reopen(t, path, key, Options{ReadOnly: true})
	if l, _ := r.List(); len(l) != 4 {
		t.Fatalf("List = %v", l)
	}
}
