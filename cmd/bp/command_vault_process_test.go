package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bprun/bp/vault"
)

// TestVaultCLIReadersAndWriter runs 8 'bp vault get --reveal' processes in
// loops while 'bp vault set' writes: every reader must succeed with a value
// the writer wrote; the writer succeeds or reports the lock within its bound.
func TestVaultCLIReadersAndWriter(t *testing.T) {
	e, _, _ := vaultEnv(t)
	wantCode(t, e.run("", "vault", "init"), 0)
	wantCode(t, e.run("value-0", "vault", "set", "X"), 0)
	deadline := time.Now().Add(1500 * time.Millisecond)
	var (
		wg                     sync.WaitGroup
		mu                     sync.Mutex
		reads, writes, lockout int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				cmd, out, errb := startBP(e, "", "vault", "get", "X", "--reveal", "--lock-timeout", "20s")
				if err := cmd.Run(); err != nil {
					t.Errorf("reader failed: %v\n%s", err, errb)
					return
				}
				if !strings.HasPrefix(out.String(), "value-") {
					t.Errorf("reader got %q", out)
					return
				}
				mu.Lock()
				reads++
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		const bound = time.Second
		for i := 1; time.Now().Before(deadline); i++ {
			start := time.Now()
			cmd, _, errb := startBP(e, fmt.Sprintf("value-%d", i), "vault", "set", "X", "--lock-timeout", bound.String())
			err := cmd.Run()
			took := time.Since(start)
			mu.Lock()
			switch {
			case err == nil:
				writes++
			case cmd.ProcessState.ExitCode() == 3 && strings.Contains(errb.String(), "locked"):
				lockout++
				if took > bound+3*time.Second {
					t.Errorf("writer reported the lock after %v (bound %v)", took, bound)
				}
			default:
				t.Errorf("writer: %v\n%s", err, errb)
			}
			mu.Unlock()
		}
	}()
	wg.Wait()
	t.Logf("%d reads, %d writes, %d writes locked out", reads, writes, lockout)
	if reads == 0 {
		t.Fatal("no reads")
	}
}

// TestVaultCLIKilled SIGKILLs the real binary at random points of 'bp vault
// import' and 'bp vault rotate-key' (the vault package's crash tests do many
// more trials, aimed inside the transaction). The key file must still open
// the vault, with the old or the new values, never a mix.
func TestVaultCLIKilled(t *testing.T) {
	type trial struct {
		name  string
		stdin string
		args  []string
	}
	trials := []trial{
		{"import", "A=new-A\nB=new-B\nC=new-C\n", []string{"vault", "import", "-"}},
		{"rotate-key", "", []string{"vault", "rotate-key", "--reencrypt"}},
	}
	for _, tr := range trials {
		t.Run(tr.name, func(t *testing.T) {
			// How long one uninterrupted run takes.
			e, path, keyFile := killSetup(t)
			start := time.Now()
			wantCode(t, e.run(tr.stdin, tr.args...), 0)
			full := time.Since(start)
			checkKilled(t, path, keyFile)
			for range 10 {
				e, path, keyFile := killSetup(t)
				cmd, _, _ := startBP(e, tr.stdin, tr.args...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rand.Int64N(int64(full))))
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				checkKilled(t, path, keyFile)
			}
		})
	}
}

func killSetup(t *testing.T) (*bpEnv, string, string) {
	e, path, keyFile := vaultEnv(t)
	key := vault.GenerateMasterKey()
	if err := vault.WriteKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Create(path, key, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Import(map[string][]byte{"A": []byte("old-A"), "B": []byte("old-B"), "C": []byte("old-C")}); err != nil {
		t.Fatal(err)
	}
	return e, path, keyFile
}

func checkKilled(t *testing.T, path, keyFile string) {
	t.Helper()
	key, err := vault.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatalf("key file unreadable: %v", err)
	}
	v, err := vault.Open(path, key, vault.Options{ReadOnly: true})
	if err != nil {
		pending, _ := os.Stat(keyFile + ".pending")
		t.Fatalf("vault does not open after a kill (pending key: %v): %v", pending != nil, err)
	}
	defer v.Close()
	var got []string
	for _, n := range []string{"A", "B", "C"} {
		b, err := v.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if s := strings.Join(got, ","); s != "old-A,old-B,old-C" && s != "new-A,new-B,new-C" {
		t.Fatalf("values after a kill: %s", s)
	}
}
