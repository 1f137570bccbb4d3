//go:build unix

package pyrun

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

func countFDs() int {
	d, _ := os.ReadDir("/proc/self/fd")
	return len(d)
}

func TestNoLeaks(t *testing.T) {
	for _, m := range []Mode{ModeForkServer, ModeFresh} {
		r, err := New(inTemp(Options{Mode: m}))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		mustRun(t, r, &Request{Code: "pass"})
		time.Sleep(100 * time.Millisecond)
		fds, gs := countFDs(), runtime.NumGoroutine()
		n := 30
		if m == ModeFresh {
			n = 5
		}
		for i := 0; i < n; i++ {
			mustRun(t, r, &Request{Code: "print(1)\nimport os\nos.write(2, b'x')"})
			run(t, r, &Request{Code: "1/0"})
			run(t, r, &Request{Code: "import os; os._exit(1)"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r.Run(ctx, &Request{Code: "import time; time.sleep(5)"}, nil)
		cancel()
		time.Sleep(300 * time.Millisecond)
		if d := countFDs() - fds; d > 2 {
			t.Errorf("%v: %d more fds", m, d)
		}
		if d := runtime.NumGoroutine() - gs; d > 2 {
			t.Errorf("%v: %d more goroutines", m, d)
		}
		r.Close()
	}
}
