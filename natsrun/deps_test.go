package natsrun_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The core packages do not import NATS: a program that embeds bp without
// a cluster does not link it.
func TestCorePackagesDoNotImportNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/bprun/bp/engine", "github.com/bprun/bp/runner",
		"github.com/bprun/bp/blocks", "github.com/bprun/bp/server").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats-io") || strings.HasSuffix(dep, "/natsrun") {
			t.Errorf("a core package depends on %s", dep)
		}
	}
}
