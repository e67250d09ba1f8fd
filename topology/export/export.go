// Package export writes a topology for a container engine: one container
// a node, each running `ockamtop apply --engine --node NAME` on the same
// topology, which the engine delivers with the nodes' identities as
// secrets. The engine's networks are the file's networks, and the inlets
// its published ports. docs/engines.md says how each part maps.
package export

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// Options are what an export takes besides the topology.
type Options struct {
	// Image runs each node: ockamtop at /ockamtop, and the programs of
	// the node's exec blocks (DefaultImage).
	Image string
	// Vars are --var NAME=VALUE flags, given to every node's apply.
	Vars []string
}

// DefaultImage is the image the repository's Dockerfile builds.
const DefaultImage = "ockamtop:latest"

// Paths in a container: where the image has ockamtop, where it keeps its
// files, and where the engine puts the secrets.
const (
	binary     = "/ockamtop"
	home       = "/ockamtop-home"
	secretsDir = "/run/secrets/"
	// topologyFile is the exported topology's name, as a file of the
	// export and as a secret in each container.
	topologyFile = "topology.hcl"
)

// File is a file an export writes, by its path in the export's directory.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Identities are the nodes' identities, by node name, with their secret
// keys: the caller keeps them (an export run again keeps them).
type Identities map[string]*secure.Identity

// identityFile and publicFile are where a node's identity, and its public
// identity, are among the export's files.
func identityFile(node string) string { return "identities/" + node + ".identity" }
func publicFile(node string) string   { return "identities/" + node + ".public" }

// containerName is what an engine takes as a service, host and secret
// name.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Check refuses, at the part, what the export cannot name on an engine.
// The topology must have been planned for an engine (--engine), which
// refuses the rest.
func Check(t *topology.Topology) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !t.Engine {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not planned for an engine",
			Detail: "The topology was planned for a local run; an export plans it for a container engine."})
	}
	for _, n := range t.Nodes {
		if !containerName.MatchString(n.Name) || len(n.Name) > 63 {
			diags = append(diags, schema.ErrorAt(n.Decl.NameRange, "Node name is no container name",
				"Node %q runs in a container of that name, which engines take as a host name: letters, digits, '_', '.' and '-', at most 63, starting with a letter or a digit.", n.Name))
		}
	}
	for _, nw := range t.Networks {
		if nw.Name == topology.DefaultEngineNetwork {
			diags = append(diags, schema.ErrorAt(nw.Decl.DeclRange, "Network name taken",
				"The engine network %q is the one of the nodes without networks; give this network another name.", nw.Name))
		} else if !containerName.MatchString(nw.Name) {
			diags = append(diags, schema.ErrorAt(nw.Decl.DeclRange, "Network name is no engine network name",
				"Network %q becomes an engine network of that name: letters, digits, '_', '.' and '-'.", nw.Name))
		}
	}
	return diags
}

// Topology is the topology the containers run: the sources, one after the
// other, with each node's identity attribute naming the identity file its
// container has next to it (its own, or another's public one).
func Topology(srcs []schema.Source) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString("# Exported by ockamtop export: each node reads its identity from NAME.identity\n")
	out.WriteString("# next to this file, its own with its secret key, the others' public.\n")
	for _, s := range srcs {
		f, diags := hclwrite.ParseConfig(s.Bytes, s.Filename, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %s", s.Filename, diags.Error())
		}
		for _, b := range f.Body().Blocks() {
			if b.Type() != schema.BlockNode || len(b.Labels()) != 1 {
				continue
			}
			body := b.Body()
			if len(body.Attributes()) == 0 && len(body.Blocks()) == 0 {
				body.Clear() // node "n1" {}: the attribute goes on a line of its own
				body.AppendNewline()
			}
			body.SetAttributeValue(schema.AttrIdentity, cty.StringVal(b.Labels()[0]+".identity"))
		}
		fmt.Fprintf(&out, "\n# From %s\n", filepath.Base(s.Filename))
		out.Write(hclwrite.Format(f.Bytes()))
	}
	return out.Bytes(), nil
}

// identityFiles are the files of the nodes' identities: each with its
// secret key, for its own container, and public, for the others'.
func identityFiles(t *topology.Topology, ids Identities) ([]File, error) {
	var files []File
	for _, n := range t.Nodes {
		id := ids[n.Name]
		if id == nil || !id.HasSecret() {
			return nil, fmt.Errorf("node %s: no identity with its secret key to export", n.Name)
		}
		files = append(files,
			File{Path: identityFile(n.Name), Data: id.MarshalFile(), Mode: 0o600},
			File{Path: publicFile(n.Name), Data: id.Public().MarshalFile(), Mode: 0o644})
	}
	return files, nil
}
