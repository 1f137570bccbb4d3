package examples_test

import (
	"testing"

	"github.com/bprun/bp/bptest"
)

// TestGolden runs the golden-file cases of the bundled examples
// (testdata/NAME/case.yaml beside NAME.bp.yaml). BPTEST_UPDATE=1 rewrites
// the golden files.
func TestGolden(t *testing.T) {
	bptest.Run(t, ".")
}
