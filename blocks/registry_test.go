package blocks_test

import (
	"testing"

	"github.com/bprun/bp/blocks"
)

// Every field of every built-in type says what its value may be, so that
// validation refuses a constant of another type (engine.FieldSpec.Type).
func TestEveryFieldHasAType(t *testing.T) {
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	for _, name := range reg.Names() {
		typ, _ := reg.BlockType(name)
		for _, f := range typ.Spec().Fields {
			if f.Type == 0 {
				t.Errorf("%s.%s has no Type", name, f.Name)
			}
		}
	}
}
