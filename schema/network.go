package schema

import (
	"fmt"
	"net/netip"

	"github.com/hashicorp/hcl/v2"
)

// Network is a `network "NAME" { subnet = "198.18.1.0/24" }` block: an
// isolated network that the nodes listing it in their `networks` share.
// Without a subnet, the planner gives it the next free /24 of
// 198.18.0.0/15.
type Network struct {
	Name      string
	NameRange hcl.Range
	DeclRange hcl.Range
	// Subnet is the declared subnet; nil for the planner's choice.
	Subnet      *netip.Prefix `hcl:"subnet"`
	SubnetRange hcl.Range
}

// MinSubnetBits and MaxSubnetBits bound a network's IPv4 prefix length: a
// /30 holds two nodes, and anything wider than a /8 is a typo.
const (
	MinSubnetBits = 8
	MaxSubnetBits = 30
)

var networkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "subnet"}}}

func decodeNetwork(b *hcl.Block, ev *evaluator) (*Network, hcl.Diagnostics) {
	nw := &Network{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := validName("network", nw.Name, nw.NameRange)
	content, d := b.Body.Content(networkSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["subnet"]; ok {
		s, d := ev.str(attr)
		diags = append(diags, d...)
		nw.SubnetRange = s.Range
		if !d.HasErrors() && s.Known() {
			p, err := parseSubnet(s.Value)
			if err != nil {
				diags = append(diags, ErrorAt(s.Range, "Invalid subnet", "%s", err))
			} else {
				nw.Subnet = &p
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return nw, diags
}

// parseSubnet reads an IPv4 subnet in CIDR form whose host bits are zero.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil || !p.Addr().Is4():
		return p, fmt.Errorf("A subnet is an IPv4 network in CIDR form, such as \"198.18.1.0/24\"; %q is not one.", s)
	case p.Bits() < MinSubnetBits || p.Bits() > MaxSubnetBits:
		return p, fmt.Errorf("A subnet's prefix length is from /%d to /%d; %q has /%d.", MinSubnetBits, MaxSubnetBits, s, p.Bits())
	case p.Masked() != p:
		return p, fmt.Errorf("%q has bits set past its prefix length. Did you mean %q?", s, p.Masked().String())
	}
	return p, nil
}

// refList decodes an attribute that must be a list of references to
// objects of one kind, such as [network.office, network.factory]. A name
// listed twice is an error at the second.
func refList(attr *hcl.Attribute, kind string) ([]Ref, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return nil, hcl.Diagnostics{ErrorAt(attr.Expr.Range(), "Invalid reference list",
			"The attribute %q needs a list of references, such as [%s.a, %s.b].", attr.Name, kind, kind)}
	}
	var out []Ref
	seen := map[string]hcl.Range{}
	for _, e := range exprs {
		r, d := refExpr(e, attr.Name, kind)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if first, ok := seen[r.Name]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s in list", kind),
				Detail:   fmt.Sprintf("%s.%s is listed already, at %s.", kind, r.Name, first),
				Subject:  r.Range.Ptr(),
				Context:  first.Ptr(),
			})
			continue
		}
		seen[r.Name] = r.Range
		out = append(out, r)
	}
	return out, diags
}
