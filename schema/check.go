package schema

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Check is a `check "NAME" { ... }` block: send a message from a node along
// a route and expect a reply.
type Check struct {
	Name      string
	From      Ref           `hcl:"from"`
	To        String        `hcl:"to"`
	Send      String        `hcl:"send"`
	Expect    *String       `hcl:"expect"` // nil: any reply passes
	Timeout   time.Duration `hcl:"timeout"`
	NameRange hcl.Range
	DeclRange hcl.Range
}

// DefaultCheckTimeout is a check's timeout when it sets none.
const DefaultCheckTimeout = 5 * time.Second

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true},
		{Name: "to", Required: true},
		{Name: "send", Required: true},
		{Name: "expect"},
		{Name: "timeout"},
	},
}

func decodeCheck(b *hcl.Block, ev *evaluator) (*Check, hcl.Diagnostics) {
	c := &Check{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange, Timeout: DefaultCheckTimeout}
	var diags hcl.Diagnostics
	if c.Name == "" {
		diags = append(diags, ErrorAt(c.NameRange, "Invalid name", "A check needs a name that says what it checks."))
	}
	content, d := b.Body.Content(checkSchema)
	diags = append(diags, d...)
	for name, attr := range content.Attributes {
		var d hcl.Diagnostics
		switch name {
		case "from":
			c.From, d = ref(attr, "node")
		case "to":
			c.To, d = ev.str(attr)
		case "send":
			c.Send, d = ev.str(attr)
		case "expect":
			var s String
			s, d = ev.str(attr)
			c.Expect = &s
		case "timeout":
			c.Timeout, d = ev.duration(attr)
		}
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return c, diags
}
