package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// nestings write, for each form the parser recurses on, a file nested n
// levels of that form deep.
var nestings = []struct {
	name string
	file func(n int) string
}{
	{"tuple", attr(func(n int) string { return rep("[", n) + rep("]", n) })},
	{"object", attr(func(n int) string { return rep("{a = ", n) + "1" + rep("}", n) })},
	{"object lines", attr(func(n int) string { return rep("{\na = ", n) + "1" + rep("\n}", n) })},
	{"parentheses", attr(func(n int) string { return rep("(", n) + "1" + rep(")", n) })},
	{"function call", attr(func(n int) string { return rep("f(", n) + "1" + rep(")", n) })},
	{"for", attr(func(n int) string { return rep("[for x in ", n) + "[]" + rep(" : x]", n) })},
	{"interpolation", attr(func(n int) string { return rep(`"${`, n) + "1" + rep(`}"`, n) })},
	{"heredoc", attr(func(n int) string { return rep("<<EOT\n${", n) + "1" + rep("}\nEOT\n", n) })},
	{"if directive", attr(func(n int) string { return `"` + rep("%{if true}", n) + rep("%{endif}", n) + `"` })},
	{"for directive", attr(func(n int) string { return `"` + rep("%{~ for x in y ~}", n) + rep("%{endfor}", n) + `"` })},
	{"not", attr(func(n int) string { return rep("!", n) + "true" })},
	{"minus", attr(func(n int) string { return rep("-", n) + "1" })},
	{"minus spaced", attr(func(n int) string { return "1" + rep(" - -", n/2) + " 1" })},
	{"binary chain", attr(func(n int) string { return "1" + rep(" + 1", n) })},
	{"logic chain", attr(func(n int) string { return "true" + rep(" && true || false", n/2) })},
	{"conditional", attr(func(n int) string { return rep("true ? 1 : ", n) + "1" })},
	{"index", attr(func(n int) string { return "x" + rep("[y]", n) })},
	{"splat", attr(func(n int) string { return "x" + rep("[*]", n) })},
	{"attribute splat", attr(func(n int) string { return "x" + rep(".*.a", n) })},
	// Newlines do not end an expression in brackets, nor comments.
	{"not lines", attr(func(n int) string { return "(" + rep("!\n", n) + "true)" })},
	{"binary lines", attr(func(n int) string { return "[1" + rep(" # one more\n+ 1", n) + "]" })},
	{"index lines", attr(func(n int) string { return "(x" + rep("\n[y]", n) + ")" })},
	{"for object lines", attr(func(n int) string { return "{for k, v in x : k => " + rep("!\n", n) + "v}" })},
	{"blocks", func(n int) string { return rep("a {\n", n) + rep("}\n", n) }},
}

func attr(expr func(n int) string) func(n int) string {
	return func(n int) string { return "node \"n1\" {\n  allow = " + expr(n) + "\n}\n" }
}

func rep(s string, n int) string { return strings.Repeat(s, n) }

// deepest is the deepest nesting of a form that the check lets through.
func deepest(t *testing.T, file func(int) string) int {
	t.Helper()
	for n := 1; n <= 2*MaxNesting; n++ {
		if diags := checkNesting("t.hcl", []byte(file(n))); diags.HasErrors() {
			return n - 1
		}
	}
	t.Fatalf("%d levels pass", 2*MaxNesting)
	return 0
}

// Every form of nesting is caught; as deep as the check lets through, it
// is parsed, decoded and evaluated with a sixteenth of the stack Go gives
// a goroutine (1 GB): the limit is far from what the stack holds.
// Exceeding the stack is a fatal error, not a failure: this test would
// crash the test binary.
func TestMaxNestingParses(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	for _, tc := range nestings {
		t.Run(tc.name, func(t *testing.T) {
			n := deepest(t, tc.file)
			if n < MaxNesting/4 {
				t.Errorf("only %d levels pass", n)
			}
			src := []byte(tc.file(n))
			f, diags := Parse(hclparse.NewParser(), "t.hcl", src)
			if f == nil {
				t.Fatalf("%d levels refused: %v", n, diags)
			}
			_, _ = Decode(f, Overrides{})
			// Walk and evaluate every expression, as the planner and
			// hcl's diagnostics may.
			_ = hclsyntax.VisitAll(f.Body.(*hclsyntax.Body), func(node hclsyntax.Node) hcl.Diagnostics {
				if e, ok := node.(hclsyntax.Expression); ok {
					_, _ = e.Value(nil)
					_ = e.Variables()
				}
				return nil
			})

			_, diags = Parse(hclparse.NewParser(), "t.hcl", []byte(tc.file(n+1)))
			if len(diags) != 1 || diags[0].Summary != "Nesting too deep" {
				t.Fatalf("%d levels: %v", n+1, diags)
			}
		})
	}
}

// The diagnostic points at the token that crosses the limit, and says
// what counts.
func TestNestingDiagnostic(t *testing.T) {
	src := "node \"n1\" {\n  allow = " + rep("[", 100000) + rep("]", 100000) + "\n}\n"
	p := hclparse.NewParser()
	f, diags := Parse(p, "deep.hcl", []byte(src))
	if f != nil || len(diags) != 1 {
		t.Fatalf("file %v, diags %v", f, diags)
	}
	if p.Sources()["deep.hcl"] == nil {
		t.Error("the source is not kept for the diagnostic's snippet")
	}
	d := diags[0]
	// The block is a level; the 256th "[" is the 257th.
	col := len("  allow = ") + MaxNesting
	if d.Summary != "Nesting too deep" || d.Subject.Filename != "deep.hcl" ||
		d.Subject.Start.Line != 2 || d.Subject.Start.Column != col || d.Subject.End.Column != col+1 {
		t.Fatalf("got %s at %s", d.Summary, d.Subject)
	}
	if !strings.Contains(d.Detail, "deep.hcl nests more than 256 levels deep here.") {
		t.Fatalf("detail: %s", d.Detail)
	}
}

// What looks like nesting but is not: brackets in strings, comments and
// heredocs, escaped template sequences, and operators that many
// expressions share between them, one after the other.
func TestNestingNotFooled(t *testing.T) {
	many := 4 * MaxNesting
	for name, src := range map[string]string{
		"line comments":       "# " + rep("[{(${", many) + "\n// " + rep("[", many) + "\nnode \"n1\" {}\n",
		"block comment":       "/* " + rep("[{(\n", many) + "*/\nnode \"n1\" {}\n",
		"string":              "node \"n1\" {\n  description = \"" + rep("[{(!-", many) + "\"\n}\n",
		"escaped templates":   "node \"n1\" {\n  description = \"" + rep("$${%%{", many) + "\"\n}\n",
		"heredoc":             "node \"n1\" {\n  description = <<EOT\n" + rep("[{( ! - + $${\n", many) + "EOT\n}\n",
		"attributes":          "node \"n1\" {\n" + rep("  a = !x.y[0] + 1 * 2 > 3 ? -1 : 2 # c\n", many) + "}\n",
		"tuple items":         "node \"n1\" {\n  a = [" + rep("!x.y[0] + 1 ? -1 : 2, ", many) + "]\n}\n",
		"object items":        "node \"n1\" {\n  a = {\n" + rep("    b = !x.y[0] + 1 ? -1 : 2\n", many) + "  }\n}\n",
		"interpolations":      "node \"n1\" {\n  a = \"" + rep("${x + 1}%{if y}z%{endif}", many) + "\"\n}\n",
		"long flat traversal": "node \"n1\" {\n  a = x" + rep(".y", many) + "\n}\n",
		"blocks":              rep("node \"n1\" {\n  a {\n    b = 1 + 1\n  }\n}\n", many),
	} {
		if diags := checkNesting("t.hcl", []byte(src)); diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
		}
	}
	examples, err := filepath.Glob("../examples/*.hcl")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range examples {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diags := checkNesting(path, src); diags.HasErrors() {
			t.Errorf("%s: %v", path, diags)
		}
	}
}

func ExampleMaxNesting() {
	src := "node \"n1\" {\n  allow = " + rep("[", MaxNesting) + rep("]", MaxNesting) + "\n}\n"
	_, diags := Parse(hclparse.NewParser(), "deep.hcl", []byte(src))
	for _, d := range diags {
		fmt.Printf("%s: %s\n", d.Subject, d.Summary)
	}
	// Output:
	// deep.hcl:2,266-267: Nesting too deep
}
