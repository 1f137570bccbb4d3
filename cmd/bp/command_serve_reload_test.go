package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func wordBP(word string) string {
	return "key: word\nblocks:\n  done: {type: returnvalue, fields: {value: " + word + "}}\n"
}

// TestServeReloadsUnderLoad changes a served blueprint while clients run
// it: no request fails; the valid change is served soon after; the invalid
// one is reported and the version before it keeps serving; SIGHUP reloads.
func TestServeReloadsUnderLoad(t *testing.T) {
	env := newBPEnv(t)
	env.write("flows/word.bp.yaml", wordBP("one"))
	p := startServe(t, env, "reload-token-0123456789", "--dir", "flows")
	var (
		latest   atomic.Value // the last word a run returned
		failures atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	latest.Store("")
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.url+"/v1/blueprints/word/runs?wait=1", nil)
				req.Header.Set("Authorization", "Bearer "+p.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				i := strings.LastIndex(string(body), "event: result\ndata: ")
				var r struct {
					Status string
					Return any
				}
				if resp.StatusCode != 200 || i < 0 || json.Unmarshal([]byte(strings.SplitN(string(body[i+20:]), "\n", 2)[0]), &r) != nil || r.Status != "returned" {
					failures.Add(1)
					t.Errorf("a request failed during the reloads: %d %s", resp.StatusCode, body)
					continue
				}
				latest.Store(r.Return)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	waitWord := func(word string) time.Duration {
		t.Helper()
		start := time.Now()
		for latest.Load() != word {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%q is not served; runs return %v", word, latest.Load())
			}
			time.Sleep(time.Millisecond)
		}
		return time.Since(start)
	}
	waitWord("one")
	env.write("flows/word.bp.yaml", wordBP("two"))
	t.Logf("a valid change was served after %s", waitWord("two"))

	env.write("flows/word.bp.yaml", strings.Replace(wordBP("three"), "returnvalue", "nosuchtype", 1))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "previous version keeps serving") {
		if time.Now().After(deadline) {
			t.Fatalf("the invalid file is not reported:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	latest.Store("")
	waitWord("two")

	before := strings.Count(p.stderr.String(), "blueprints reloaded")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for strings.Count(p.stderr.String(), "blueprints reloaded") == before {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d requests failed", n)
	}
}
