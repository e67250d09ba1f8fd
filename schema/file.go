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
	Networks  []*Network
	// Engine is whether the file is planned for a container engine
	// (Overrides.Engine): each node in a container named after it, its
	// listeners bound on all its interfaces and dialed by its name, its
	// networks the engine's.
	Engine bool
}

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: BlockVariable, LabelNames: []string{"name"}},
		{Type: BlockNode, LabelNames: []string{"name"}},
		{Type: BlockCheck, LabelNames: []string{"name"}},
		{Type: BlockNetwork, LabelNames: []string{"name"}},
	},
}

// Parse reads HCL source into a file the parser keeps, for diagnostics to
// show snippets of. Source that is not text, too large to be a topology
// file or nested too deeply for the parser is refused before parsing (see
// MaxFileSize and MaxNesting): the file is nil then.
func Parse(p *hclparse.Parser, filename string, src []byte) (*hcl.File, hcl.Diagnostics) {
	if diags := checkSource(filename, src); diags.HasErrors() {
		return nil, diags
	}
	if diags := checkNesting(filename, src); diags.HasErrors() {
		// The file is text: recorded, without a body, for the diagnostic
		// to show where in it the nesting goes too deep.
		p.AddFile(filename, &hcl.File{Body: hcl.EmptyBody(), Bytes: src})
		return nil, diags
	}
	return p.ParseHCL(src, filename)
}

// Decode decodes a parsed file. overrides are variable values given by the
// user (--var and OCKAMTOP_VAR_*), as text. Decoding goes on after an error
// so that every problem is reported at once.
func Decode(f *hcl.File, overrides Overrides) (*File, hcl.Diagnostics) {
	return DecodeFiles([]*hcl.File{f}, overrides)
}

// DecodeFiles decodes parsed files as one topology, as Terraform reads the
// .tf files of a directory: the blocks of every file, in the order of the
// files, share one namespace. A node may be declared in one file and
// referred to in another; a name declared in two files is reported at the
// second, naming the first.
func DecodeFiles(files []*hcl.File, overrides Overrides) (*File, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var blocks hcl.Blocks
	src := make(map[string][]byte, len(files))
	for _, f := range files {
		content, d := f.Body.Content(fileSchema)
		diags = append(diags, d...)
		blocks = append(blocks, content.Blocks...)
		// An hcl.File does not keep its name; the ranges of its body do.
		if rng := f.Body.MissingItemRange(); rng.Filename != "" {
			src[rng.Filename] = f.Bytes
		}
	}
	out := &File{Engine: overrides.Engine}

	var varBlocks, nodeBlocks, checkBlocks, networkBlocks []*hcl.Block
	for _, b := range blocks {
		switch b.Type {
		case "variable":
			varBlocks = append(varBlocks, b)
		case "node":
			nodeBlocks = append(nodeBlocks, b)
		case "check":
			checkBlocks = append(checkBlocks, b)
		case "network":
			networkBlocks = append(networkBlocks, b)
		}
	}

	vars, d := decodeUnique(varBlocks, "variable", func(b *hcl.Block) (*Variable, hcl.Diagnostics) { return decodeVariable(b) },
		func(v *Variable) (string, hcl.Range) { return v.Name, v.DeclRange })
	out.Variables = vars
	diags = append(diags, d...)
	diags = append(diags, applyOverrides(out.Variables, overrides)...)
	ev := newEvaluator(out.Variables, src)

	out.Nodes, d = decodeUnique(nodeBlocks, "node", func(b *hcl.Block) (*Node, hcl.Diagnostics) { return decodeNode(b, ev) },
		func(n *Node) (string, hcl.Range) { return n.Name, n.DeclRange })
	diags = append(diags, d...)
	out.Networks, d = decodeUnique(networkBlocks, "network", func(b *hcl.Block) (*Network, hcl.Diagnostics) { return decodeNetwork(b, ev) },
		func(nw *Network) (string, hcl.Range) { return nw.Name, nw.DeclRange })
	diags = append(diags, d...)
	out.Checks, d = decodeUnique(checkBlocks, "check", func(b *hcl.Block) (*Check, hcl.Diagnostics) { return decodeCheck(b, ev) },
		func(c *Check) (string, hcl.Range) { return c.Name, c.DeclRange })
	diags = append(diags, d...)
	return out, diags
}

// decodeUnique decodes blocks of one kind whose names must differ,
// reporting a second declaration of a name against the first. A block
// whose decoding failed (nil) is left out.
func decodeUnique[T any](blocks []*hcl.Block, kind string, decode func(*hcl.Block) (*T, hcl.Diagnostics),
	id func(*T) (string, hcl.Range)) ([]*T, hcl.Diagnostics) {
	var out []*T
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		v, d := decode(b)
		diags = append(diags, d...)
		if v == nil {
			continue
		}
		name, decl := id(v)
		if first, ok := seen[name]; ok {
			diags = append(diags, duplicate(kind, name, first, b.LabelRanges[0]))
			continue
		}
		seen[name] = decl
		out = append(out, v)
	}
	return out, diags
}
