//go:build unix

package pyrun

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed harness.py
var harnessSource string

// wireRequest is what the child reads on its stdin.
type wireRequest struct {
	Code    string            `json:"code"`
	Vault   map[string]string `json:"vault"`
	State   map[string]any    `json:"state"`
	Payload any               `json:"payload"`
	Result  any               `json:"result"`
	Results any               `json:"results"`
	Context any               `json:"context"`
	Item    any               `json:"item"`
	ItemID  any               `json:"itemId"`
	Globals map[string]any    `json:"globals,omitempty"`
}

// answerError is an error reported by the harness (JSON encoding, request).
type answerError struct{ msg string }

func (e *answerError) Error() string { return e.msg }

func (e *answerError) Is(target error) bool {
	return target == ErrNotSerializable && strings.Contains(e.msg, "not JSON-serializable")
}

// harnessConfig is the harness's last argument.
type harnessConfig struct {
	Site    json.RawMessage `json:"site,omitempty"`
	Preload []string        `json:"preload,omitempty"`
	Limits  limits          `json:"limits"`
}

// limits are a block's resource limits (0: none).
type limits struct {
	Data   int64 `json:"data"`   // RLIMIT_DATA, bytes
	NoFile int   `json:"nofile"` // RLIMIT_NOFILE
}

func limitsOf(opts Options) limits {
	l := limits{Data: opts.Memory, NoFile: opts.OpenFiles}
	if l.Data == 0 {
		l.Data = DefaultMemory
	}
	if l.NoFile == 0 {
		l.NoFile = DefaultOpenFiles
	}
	return limits{Data: max(l.Data, 0), NoFile: max(l.NoFile, 0)}
}

// buildEnv is base plus extra, without bp's own variables (BP_*): the
// vault's key and passphrase, the server's token, and where bp keeps its
// files never reach a block's code.
func buildEnv(base, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra)+3)
	for _, list := range [][]string{base, extra} {
		for _, kv := range list {
			if strings.HasPrefix(kv, "BP_") {
				continue
			}
			env = append(env, kv)
		}
	}
	return env
}

// withTemp points env's temporary directory variables at dir.
func withTemp(env []string, dir string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "TMPDIR" && name != "TMP" && name != "TEMP" {
			out = append(out, kv)
		}
	}
	return append(out, "TMPDIR="+dir, "TMP="+dir, "TEMP="+dir)
}

// formatBytes writes n as people write memory sizes: 256 MiB, 1 GiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
