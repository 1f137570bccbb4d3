package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/blueprints/examples"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/vault"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var python string
	var logFormat string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the bundled demo blueprint end to end",
		Long: `Run the bundled demo: it makes a throwaway vault holding a demo secret,
starts a weather server on loopback that demands that secret, and runs a
blueprint whose HTTP block sends the secret and whose Python block shapes the
answer (and prints the secret, raw and base64-encoded, on purpose). The log
and the return value show every form of the secret masked as ***.

Nothing is left behind: the vault, its key and the server go away with the
command.`,
		Example: `  bp demo
  bp demo --log json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After the first Ctrl-C, a second one kills bp at once.
			context.AfterFunc(ctx, stop)
			return runDemo(ctx, cmd, python, logFormat)
		},
	}
	cmd.Flags().StringVar(&python, "python", "", "Python interpreter for the code block (default $BP_PYTHON, else python3)")
	cmd.Flags().StringVar(&logFormat, "log", "pretty", "run log format: pretty or json")
	return cmd
}

func runDemo(ctx context.Context, cmd *cobra.Command, python, logFormat string) error {
	dir, err := os.MkdirTemp("", "bp-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// A throwaway vault: a fresh key that lives only in this process.
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	secret := "demo-" + hex.EncodeToString(token)
	key := vault.GenerateMasterKey()
	defer key.Zero()
	vaultPath := filepath.Join(dir, "vault.db")
	v, err := vault.Create(vaultPath, key, vault.Options{})
	if err != nil {
		return withCode(exitVault, err)
	}
	if err := v.Set("DEMO_API_KEY", []byte(secret)); err != nil {
		v.Close()
		return withCode(exitVault, err)
	}
	v.Close()

	api, closeAPI, err := startWeatherServer(secret)
	if err != nil {
		return err
	}
	defer closeAPI()

	set, err := blueprints.LoadFS(examples.FS, ".")
	if err != nil {
		return err
	}
	if python == "" {
		python = os.Getenv("BP_PYTHON")
	}
	reg := blocks.Default(blocks.Options{Python: python})
	defer reg.Close()

	r := runner.New(runner.Options{
		Library: runner.NewLibrary(set, reg),
		OpenVault: func() (*vault.Vault, error) {
			return vault.Open(vaultPath, key, vault.Options{ReadOnly: true})
		},
		Timeout: time.Minute,
	})
	return runAndReport(ctx, cmd, r, runner.Request{
		Blueprint: "demo",
		Payload:   map[string]any{"city": "Paris", "api": api},
	}, logFormat, fmt.Sprintf("bp demo: vault %s holds DEMO_API_KEY; weather server on %s\n", vaultPath, api))
}

// startWeatherServer serves /weather on loopback, for the demo's HTTP
// block: it wants the secret as a bearer token, and echoes the header
// back, as careless servers do, so the demo can show it masked.
func startWeatherServer(secret string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		if auth != "Bearer "+secret {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "bad key", "echo": map[string]string{"authorization": auth}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"city":   r.URL.Query().Get("city"),
			"temp_c": 21.5,
			"echo":   map[string]string{"authorization": auth},
		})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
