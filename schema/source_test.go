package schema

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// Source that is not text is refused before parsing, at its first bad byte.
func TestParseRefusesNonText(t *testing.T) {
	for _, tc := range []struct {
		name, src   string
		line, col   int
		summary, in string
	}{
		{"nul", "node \"n1\" {}\nno\x00de", 2, 3, "File is not text", "byte 15 (line 2, column 3) is a NUL byte"},
		{"latin1", "# café\nnode \"caf\xe9\" {}", 2, 10, "File is not text", "0xe9, not valid UTF-8"},
		{"invalid before nul", "\xff\x00", 1, 1, "File is not text", "byte 0 (line 1, column 1) is 0xff"},
		{"too large", strings.Repeat("#\n", MaxFileSize/2+1), 1, 1, "File too large", "at most 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := Parse(hclparse.NewParser(), "t.hcl", []byte(tc.src))
			if f != nil || len(diags) != 1 {
				t.Fatalf("file %v, diags %v", f, diags)
			}
			d := diags[0]
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.in) ||
				d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Fatalf("got %s at %d,%d: %s", d.Summary, d.Subject.Start.Line, d.Subject.Start.Column, d.Detail)
			}
		})
	}
	if _, diags := Parse(hclparse.NewParser(), "t.hcl", []byte("# naïve ✓\nnode \"n1\" {}\n")); diags.HasErrors() {
		t.Fatal(diags)
	}
}
