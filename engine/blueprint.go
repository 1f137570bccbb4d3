package engine

import "strconv"

// Format says which on-disk format a blueprint came from. Writer's files keep
// Writer's template rules (a missing path is null, with a warning) so that
// they run unchanged; native blueprints are strict.
type Format int

const (
	FormatNative Format = iota
	FormatWriter
)

func (f Format) String() string {
	if f == FormatWriter {
		return "writer"
	}
	return "native"
}

// Pos is a place in a source file, for error messages. Line and Column are
// 1-based; zero means unknown.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return p.File + ":" + strconv.Itoa(p.Line)
	default:
		return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
	}
}

// Blueprint is the loaded, not yet validated, form of one blueprint: what a
// loader produces from a native YAML file or a Writer .wf file.
type Blueprint struct {
	Key         string
	Description string
	Format      Format
	Source      string // file the blueprint was loaded from
	// Vault, when non-nil, lists the only secrets this blueprint may read.
	// Nil means the whole vault (as in Writer).
	Vault []string
	// Env lists the environment variables templates may read as @{$NAME}.
	Env    []string
	Blocks []*BlockSpec // in file order
	// LoadErrors are problems the loader found but could still represent;
	// validation reports them along with its own.
	LoadErrors []*Problem
}

// BlockSpec is one block as written in a blueprint file.
type BlockSpec struct {
	ID     string
	Type   string // without Writer's "blueprints_" prefix
	Alias  string
	Fields map[string]any // strings are templates; maps and lists hold templates
	Outs   []Edge
	Pos    Pos
	// FieldPos gives the position of each field's value, when the loader
	// knows it, so template errors can point at a line and column.
	FieldPos map[string]Pos
}

// Edge leads from one outcome of a block to another block.
type Edge struct {
	Outcome string
	To      string
	Pos     Pos
}

// Block finds a block by id.
func (b *Blueprint) Block(id string) *BlockSpec {
	for _, s := range b.Blocks {
		if s.ID == id {
			return s
		}
	}
	return nil
}
