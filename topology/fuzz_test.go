package topology

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/ockamtop/ockamtop/schema"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must not panic, and
// what it returns must be consistent (a topology, or errors, never both
// missing). Seeds are the examples and every file of the CLI scripts.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.hcl")
	for _, path := range examples {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	scripts, _ := filepath.Glob("../testdata/scripts/*.txtar")
	for _, path := range scripts {
		a, err := txtar.ParseFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range a.Files {
			if strings.HasSuffix(file.Name, ".hcl") {
				f.Add(file.Data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		top, p, diags := Load("fuzz.hcl", src, schema.Overrides{Vars: []string{"target_port=9000"}})
		if p == nil {
			t.Fatal("no parser")
		}
		if top == nil && !diags.HasErrors() {
			t.Fatal("no topology and no error")
		}
		if top != nil {
			if diags.HasErrors() {
				t.Fatal("a topology and errors")
			}
			_ = top.Plan()
			_ = top.WriteText(io.Discard)
			_ = top.WriteDot(io.Discard)
			_ = top.WriteMermaid(io.Discard)
		}
	})
}
