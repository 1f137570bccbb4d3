package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestDemoRunsTheWholeStoryScrubbed(t *testing.T) {
	env := newBPEnv(t)
	for _, format := range []string{"pretty", "json"} {
		r := env.run("", "demo", "--log", format)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		var ret map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &ret); err != nil {
			t.Fatalf("return value is not JSON: %v\n%v", err, r)
		}
		if ret["city"] != "Paris" || ret["temp_c"] != 21.5 || ret["sent_key"] != "Bearer ***" {
			t.Errorf("return value %v", ret)
		}
		// The demo's secret is "demo-" and 32 random hex digits; neither it
		// nor its base64 form may show anywhere.
		leak := regexp.MustCompile(`demo-[0-9a-f]{32}|ZGVtby[0-9A-Za-z+/]{20,}`)
		if m := leak.FindString(r.stdout + r.stderr); m != "" {
			t.Errorf("%s log shows the secret %q:\n%s", format, m, r.stderr)
		}
		for _, want := range []string{"server saw: Bearer ***", "key, base64: ***", "returned"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s log lacks %q:\n%s", format, want, r.stderr)
			}
		}
	}
}
