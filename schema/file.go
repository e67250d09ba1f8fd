// Package schema decodes a topology file: HCL source in, plain structs out,
// each keeping the source ranges of what it was read from. It knows the
// block and attribute names of the language and the shape of each value
// (a socket address, a reference, a duration), and evaluates variables. It
// does not know what the names refer to: cross-references, route walking and
// start order are the topology package's.
package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// File is a decoded topology file.
type File struct {
	Variables []*Variable
	Nodes     []*Node
	Checks    []*Check
}

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "node", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
	},
}

// Parse reads HCL source into a file the parser keeps, for diagnostics to
// show snippets of.
func Parse(p *hclparse.Parser, filename string, src []byte) (*hcl.File, hcl.Diagnostics) {
	return p.ParseHCL(src, filename)
}

// Decode decodes a parsed file. overrides are variable values given by the
// user (--var and OCKAMTOP_VAR_*), as text. Decoding goes on after an error
// so that every problem is reported at once.
func Decode(f *hcl.File, overrides Overrides) (*File, hcl.Diagnostics) {
	content, diags := f.Body.Content(fileSchema)
	out := &File{}

	var varBlocks, nodeBlocks, checkBlocks []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			varBlocks = append(varBlocks, b)
		case "node":
			nodeBlocks = append(nodeBlocks, b)
		case "check":
			checkBlocks = append(checkBlocks, b)
		}
	}

	seenVars := map[string]*Variable{}
	for _, b := range varBlocks {
		v, d := decodeVariable(b)
		diags = append(diags, d...)
		if v == nil {
			continue
		}
		if prev, ok := seenVars[v.Name]; ok {
			diags = append(diags, duplicate("variable", v.Name, prev.DeclRange, b.LabelRanges[0]))
			continue
		}
		seenVars[v.Name] = v
		out.Variables = append(out.Variables, v)
	}
	diags = append(diags, applyOverrides(out.Variables, overrides)...)
	ev := newEvaluator(out.Variables, f.Bytes)

	seenNodes := map[string]*Node{}
	for _, b := range nodeBlocks {
		n, d := decodeNode(b, ev)
		diags = append(diags, d...)
		if n == nil {
			continue
		}
		if prev, ok := seenNodes[n.Name]; ok {
			diags = append(diags, duplicate("node", n.Name, prev.DeclRange, b.LabelRanges[0]))
			continue
		}
		seenNodes[n.Name] = n
		out.Nodes = append(out.Nodes, n)
	}

	seenChecks := map[string]*Check{}
	for _, b := range checkBlocks {
		c, d := decodeCheck(b, ev)
		diags = append(diags, d...)
		if c == nil {
			continue
		}
		if prev, ok := seenChecks[c.Name]; ok {
			diags = append(diags, duplicate("check", c.Name, prev.DeclRange, b.LabelRanges[0]))
			continue
		}
		seenChecks[c.Name] = c
		out.Checks = append(out.Checks, c)
	}
	return out, diags
}
