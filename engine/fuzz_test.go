package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bprun/bp/engine"
)

// FuzzTemplate compiles arbitrary field text as a template, in both
// formats, and runs what compiles: nothing may panic, and a template that
// compiles either evaluates or fails with an error.
func FuzzTemplate(fz *testing.F) {
	for _, s := range []string{
		"plain", "@{payload}", "@{payload.a.b}", `@{payload[payload.k]}`, `\@{x}`, "@{1 + 2}",
		"@{vault.KEY}", "@{vault}", `@{"}"}`, "@{payload.list.0}", "a @{payload} b @{state.x}",
		"@{len(payload)}", "@{payload?.x}", "@{let x = 1; x + 1}", "@{$HOME}", "@{", "@{}", "}@{{}}",
		"@{map(payload.list, # * 2)}", "@{payload.a\\.b}", "@{results.t.x}",
	} {
		fz.Add(s)
	}
	env := newEnv(fz)
	payload := map[string]any{"a": map[string]any{"b": "c"}, "k": "a", "list": []any{1.0, 2.0}}
	fz.Fuzz(func(t *testing.T, src string) {
		for _, format := range []engine.Format{engine.FormatNative, engine.FormatWriter} {
			b := bp("fuzz", blk("t", "apitrigger", nil, "trigger>r"), blk("r", "returnvalue", f{"value": src}))
			b.Format = format
			p, err := engine.Compile(b, env.reg)
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("empty compile error for %q", src)
				}
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rec := &recorder{}
			res := p.Run(ctx, engine.RunOptions{Payload: payload, Sink: rec, Secrets: mapSecrets{"KEY": "fuzz-secret"}})
			cancel()
			if res.Status == engine.StatusFailed && strings.Contains(res.Err.Error(), "panic") {
				t.Fatalf("template %q panicked: %v", src, res.Err)
			}
		}
	})
}
