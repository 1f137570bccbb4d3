package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestParallelRunsShareTheVaultWithAWriter runs 8 bp runs that read a
// secret while bp vault set keeps changing it: every run succeeds and sees
// a whole value, and the writer either succeeds or reports the lock.
func TestParallelRunsShareTheVaultWithAWriter(t *testing.T) {
	env := newBPEnv(t)
	if r := env.run("", "vault", "init"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	if r := env.run("value-0000", "vault", "set", "K"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	path := env.write("reads.bp.yaml", `
vault: [K]
blocks:
  r: {type: returnvalue, fields: {value: "@{len(vault.K)}:@{vault.K startsWith 'value-'}"}}
`)
	const runs, writes = 8, 6
	var wg sync.WaitGroup
	results := make(chan bpResult, runs*2+writes)
	for i := 0; i < runs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2; j++ {
				results <- env.run("", "run", path, "--no-history")
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= writes; i++ {
			value := "value-" + strings.Repeat(fmt.Sprint(i%10), 4+i%3*4)
			results <- env.run(value, "vault", "set", "K", "--lock-timeout", "2s")
		}
	}()
	wg.Wait()
	close(results)
	valid := map[string]bool{`"10:true"`: true, `"14:true"`: true, `"18:true"`: true}
	for r := range results {
		switch r.args[0] {
		case "run":
			if r.code != 0 || !valid[strings.TrimSpace(r.stdout)] {
				t.Errorf("a run failed or saw a torn value: %v", r)
			}
		case "vault":
			if r.code != 0 && !(r.code == 3 && strings.Contains(r.stderr, "locked")) {
				t.Errorf("the writer neither succeeded nor reported the lock: %v", r)
			}
		}
	}
}
