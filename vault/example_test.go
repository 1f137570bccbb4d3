package vault_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bprun/bp/vault"
)

// A run opens the vault read-only from the environment, reads the secrets
// it may see, and closes it again so that writers are not kept waiting.
func ExampleOpenEnv() {
	dir, _ := os.MkdirTemp("", "vault-example")
	defer os.RemoveAll(dir)
	key := vault.GenerateMasterKey()
	env := map[string]string{
		"HOME":            dir,
		vault.EnvVault:    filepath.Join(dir, "vault.db"),
		vault.EnvKeyFile:  filepath.Join(dir, "vault.key"),
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
	}
	getenv := func(k string) string { return env[k] }
	if err := vault.WriteKeyFile(env[vault.EnvKeyFile], key); err != nil {
		panic(err)
	}

	// What 'bp vault set' does.
	w, err := vault.OpenEnv("", getenv, vault.Options{CreateIfMissing: true})
	if err != nil {
		panic(err)
	}
	w.Set("WEATHER_KEY", []byte("s3cr3t-token"))
	w.Close()

	// What a run does.
	v, err := vault.OpenEnv("", getenv, vault.Options{ReadOnly: true})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	value, err := v.Get("WEATHER_KEY")
	fmt.Println(string(value), err)
	_, err = v.Get("MISSING")
	fmt.Println(err != nil)
	m, _ := v.Meta("WEATHER_KEY")
	fmt.Println(m.Name, m.Version)
	// Output:
	// s3cr3t-token <nil>
	// true
	// WEATHER_KEY 1
}
