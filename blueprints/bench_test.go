package blueprints_test

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/blueprints/examples"
	"github.com/bprun/bp/engine"
)

// chain is a blueprint of n setstate blocks, each leading to the next: the
// shape of a long generated flow, with a template in every block.
func chain(n int) []byte {
	var b strings.Builder
	b.WriteString("key: chain\ndescription: a long chain\nblocks:\n")
	b.WriteString("  start: {type: apitrigger, outs: {trigger: b0}}\n")
	for i := range n {
		fmt.Fprintf(&b, "  b%d:\n    type: setstate\n    fields: {element: \"s%d\", value: \"@{payload.x} %d\"}\n", i, i%10, i)
		if i < n-1 {
			fmt.Fprintf(&b, "    outs: {success: b%d}\n", i+1)
		}
	}
	return []byte(b.String())
}

// BenchmarkLoad measures what bp run, bp validate and a server's reload
// pay before the first block: parse (the file to engine.Blueprint) and
// load (parse, then engine.Compile: validation, templates, expressions).
func BenchmarkLoad(b *testing.B) {
	reg := blocks.Default(blocks.Options{})
	defer reg.Close()
	files := map[string][]byte{"chain-2000": chain(2000)}
	names, _ := fs.Glob(examples.FS, "*.bp.yaml")
	for _, name := range names {
		data, err := fs.ReadFile(examples.FS, name)
		if err != nil {
			b.Fatal(err)
		}
		files["example-"+strings.TrimSuffix(name, ".bp.yaml")] = data
	}
	for _, name := range []string{"chain-2000", "example-demo", "example-forecast", "example-classify-temp"} {
		data := files[name]
		if data == nil {
			b.Fatalf("no file %s", name)
		}
		b.Run("parse/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := blueprints.ParseNative(name+".bp.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("load/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				bp, err := blueprints.ParseNative(name+".bp.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := engine.Compile(bp, reg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
