package schema

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

func decode(t *testing.T, src string, o Overrides) (*File, hcl.Diagnostics) {
	t.Helper()
	f, diags := Parse(hclparse.NewParser(), "t.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return Decode(f, o)
}

const portFile = `
variable "port" {
  default = 9000
}
variable "host" {}
node "n3" {
  tcp_outlet "outlet" {
    to = "${var.host}:${var.port}"
  }
}
`

func TestVariableOverrides(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Overrides
		want string
		diag string
	}{
		{"env sets, flag wins", Overrides{Vars: []string{"port=9200", "host=h"}, Env: []string{"OCKAMTOP_VAR_port=9100"}}, "h:9200", ""},
		{"env only", Overrides{Env: []string{"OCKAMTOP_VAR_port=9100", "OCKAMTOP_VAR_host=e", "OCKAMTOP_VAR_other=x"}}, "e:9100", ""},
		{"default", Overrides{Vars: []string{"host=h"}}, "h:9000", ""},
		{"no value", Overrides{}, "", "No value for required variable"},
		{"not a number", Overrides{Vars: []string{"host=h", "port=ninety"}}, "", "Invalid value for variable"},
		{"undeclared flag", Overrides{Vars: []string{"host=h", "prot=1"}}, "", `Did you mean "port"?`},
		{"malformed flag", Overrides{Vars: []string{"host=h", "port"}}, "", "Invalid --var option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := decode(t, portFile, tc.o)
			if tc.diag != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.diag) {
					t.Fatalf("diags %v, want %q", diags, tc.diag)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := f.Nodes[0].Outlets[0].To.Value; got != tc.want {
				t.Fatalf("to = %q, want %q", got, tc.want)
			}
		})
	}
	f, _ := decode(t, portFile, Overrides{Vars: []string{"host=h"}})
	if v := f.Variables[0].Value; !v.Type().Equals(cty.Number) {
		t.Fatalf("port is %s", v.Type().FriendlyName())
	}
}

// A position inside a literal string maps to the source; after
// interpolation it falls back to the whole expression.
func TestStringSubRange(t *testing.T) {
	src := `
node "n1" {}
check "a" {
  from = node.n1
  to   = "/service/hop/service/echo"
  send = "x${"y"}"
}
`
	f, diags := decode(t, src, Overrides{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := f.Checks[0]
	r := c.To.SubRange(len("/service/hop"), len("/service/hop/service/echo"))
	if got := src[r.Start.Byte:r.End.Byte]; got != "/service/echo" {
		t.Fatalf("sub range covers %q", got)
	}
	if r.Start.Column != 23 || r.End.Column != 36 {
		t.Fatalf("columns %d-%d", r.Start.Column, r.End.Column)
	}
	if r := c.Send.SubRange(0, 1); r != c.Send.Range {
		t.Fatalf("interpolated string gave a sub range %v", r)
	}
}

// A list holding a variable without a value is reported at the variable,
// once, and decoding goes on (it used to panic).
func TestUnknownListElement(t *testing.T) {
	_, diags := decode(t, `
variable "port" {}
node "a" {
  allow = ["x", "${var.port}"]
  exec "e" {
    command = ["python3", "${var.port}"]
  }
}
`, Overrides{})
	if len(diags) != 1 || diags[0].Summary != "No value for required variable" {
		t.Fatalf("diags: %v", diags)
	}
}
