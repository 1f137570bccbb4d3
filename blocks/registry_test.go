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

// A field's Enum is what validation accepts: each value passes its Check,
// and unless the list is open a value outside it does not.
func TestEnumsAgreeWithChecks(t *testing.T) {
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	enums := 0
	for _, name := range reg.Names() {
		typ, _ := reg.BlockType(name)
		for _, f := range typ.Spec().Fields {
			if len(f.Enum) == 0 {
				continue
			}
			enums++
			if f.Check == nil {
				t.Errorf("%s.%s has an Enum and no Check", name, f.Name)
				continue
			}
			for _, v := range f.Enum {
				if err := f.Check(v); err != nil {
					t.Errorf("%s.%s: Enum value %q refused: %v", name, f.Name, v, err)
				}
			}
			if err := f.Check("none-of-them"); err == nil && !f.EnumOpen {
				t.Errorf("%s.%s: a value outside its closed Enum passes", name, f.Name)
			}
		}
	}
	if enums < 4 {
		t.Errorf("%d fields with an Enum, want the HTTP method, body type, log type and value type", enums)
	}
}
