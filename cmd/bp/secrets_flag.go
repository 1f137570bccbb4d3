package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/openbao"
)

// secretsFlag is --secrets: runs read their secrets from OpenBao or
// HashiCorp Vault instead of the vault file.
type secretsFlag struct{ url string }

func (f *secretsFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "secrets", "", "read runs' secrets from OpenBao or Vault KV v2 instead of the vault file: openbao://HOST:PORT/MOUNT/PATH (openbao+http:// without TLS), the secret at PATH holding one key per name; token in $BAO_TOKEN or $VAULT_TOKEN; default $BP_SECRETS")
}

// source is the secret source --secrets names, nil without one. The token
// is taken out of bp's environment, so that no blueprint (env:) and no
// code block can read it.
func (f *secretsFlag) source() (engine.SecretSource, error) {
	url := f.url
	if url == "" {
		url = os.Getenv("BP_SECRETS")
	}
	token := os.Getenv("BAO_TOKEN")
	if token == "" {
		token = os.Getenv("VAULT_TOKEN")
	}
	os.Unsetenv("BAO_TOKEN")
	os.Unsetenv("VAULT_TOKEN")
	if url == "" {
		return nil, nil
	}
	src, err := openbao.New(openbao.Config{URL: url, Token: token})
	if err != nil {
		return nil, withCode(exitVault, err)
	}
	return src, nil
}
