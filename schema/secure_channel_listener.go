package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/ockamtop/ockamtop/runtime/secure"
)

// SecureChannelListener is a `secure_channel_listener "NAME" { trust = [...] }`
// block: a listener for secure channels at /service/NAME, which a route
// reaches with /secure/NAME.
type SecureChannelListener struct {
	Name      string
	NameRange hcl.Range
	DeclRange hcl.Range
	// Trust lists who may open a channel; nil (no trust attribute) is
	// anyone, as in Ockam.
	Trust      []Trusted `hcl:"trust"`
	TrustRange hcl.Range
}

// Trusted is one entry of a trust list: a node reference, or an
// identifier in Ockam's text form.
type Trusted struct {
	// Node is set for a reference such as node.n1.
	Node *Ref
	// Identifier is set for a string "I…".
	Identifier String
}

var secureChannelListenerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "trust"}}}

func decodeSecureChannelListener(b *hcl.Block, ev *evaluator) (*SecureChannelListener, hcl.Diagnostics) {
	l := &SecureChannelListener{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := localName("secure_channel_listener", l.Name, l.NameRange)
	content, d := b.Body.Content(secureChannelListenerSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["trust"]; ok {
		l.TrustRange = attr.Expr.Range()
		l.Trust = []Trusted{}
		exprs, d := hcl.ExprList(attr.Expr)
		if d.HasErrors() {
			diags = append(diags, ErrorAt(attr.Expr.Range(), "Invalid trust list",
				"The attribute \"trust\" needs a list of node references and identifiers, such as [node.n1, \"I…\"]."))
		}
		for _, ex := range exprs {
			t, d := ev.trusted(ex)
			diags = append(diags, d...)
			if !d.HasErrors() {
				l.Trust = append(l.Trust, t)
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return l, diags
}

// trusted decodes one trust entry: a reference node.NAME, or a string
// that is an identifier.
func (e *evaluator) trusted(ex hcl.Expression) (Trusted, hcl.Diagnostics) {
	rng := ex.Range()
	if tr, d := hcl.AbsTraversalForExpr(ex); !d.HasErrors() && tr.RootName() == "node" {
		if len(tr) != 2 || attrName(tr[1]) == "" {
			return Trusted{}, hcl.Diagnostics{ErrorAt(rng, "Invalid reference",
				"A trust entry is a node reference such as node.n1, or an identifier \"I…\".")}
		}
		return Trusted{Node: &Ref{Kind: "node", Name: attrName(tr[1]), Range: rng}}, nil
	}
	if diags := e.checkVariables(ex, "A trust entry"); diags.HasErrors() {
		return Trusted{}, diags
	}
	val, diags := ex.Value(e.ctx)
	if diags.HasErrors() {
		return Trusted{}, diags
	}
	s, err := convert.Convert(val, cty.String)
	if err != nil || s.IsNull() || !s.IsKnown() {
		return Trusted{}, hcl.Diagnostics{ErrorAt(rng, "Invalid trust entry",
			"A trust entry is a node reference such as node.n1, or an identifier \"I…\".")}
	}
	if _, err := secure.ParseIdentifier(s.AsString()); err != nil {
		detail := "A trust entry is a node reference such as node.n1, or an identifier: I and 64 hex digits, as `ockamtop identity create` prints."
		if lit, ok := ex.(*hclsyntax.TemplateExpr); ok && lit.IsStringLiteral() && s.AsString() != "" && s.AsString()[0] != 'I' {
			detail += " To trust a node, write node." + s.AsString() + " without quotes."
		}
		return Trusted{}, hcl.Diagnostics{ErrorAt(rng, "Invalid identifier", "%s", detail)}
	}
	return Trusted{Identifier: String{Value: s.AsString(), Range: rng}}, nil
}
