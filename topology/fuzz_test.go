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
// missing). Seeds are the examples, every file of the CLI scripts, and
// files nested about as deep as schema.MaxNesting allows in each form the
// parser recurses on, and one far deeper, that would overflow the stack.
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
	deep := func(open, mid, close string, n int) []byte {
		return []byte("node \"n1\" {\n  tcp_listener = " + strings.Repeat(open, n) + mid + strings.Repeat(close, n) + "\n}\n")
	}
	for _, n := range []int{schema.MaxNesting - 2, schema.MaxNesting + 1} {
		f.Add(deep("(", `"127.0.0.1:0"`, ")", n))
		f.Add(deep("[", "", "]", n))
		f.Add(deep("{a = ", "1", "}", n))
		f.Add(deep(`"${`, `"127.0.0.1:0"`, `}"`, n/2))
		f.Add(deep("", `"`+strings.Repeat("%{if true}", n)+strings.Repeat("%{endif}", n)+`"`, "", 0))
		f.Add(deep("!", "true", "", n))
		f.Add(deep("-", "1", "", n))
		f.Add(deep("1 + ", "1", "", n))
		f.Add(deep("true ? 1 : ", "1", "", n))
		f.Add(deep("", "x", "[*]", n))
		f.Add([]byte(strings.Repeat("node \"n1\" {\n", n) + strings.Repeat("}\n", n)))
	}
	f.Add(deep("[", "", "]", 100000))

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
