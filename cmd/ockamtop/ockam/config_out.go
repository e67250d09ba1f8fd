package ockam

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The session as Ockam's configuration file, which `ockam run FILE` (this
// one, or Ockam's) builds again: its nodes with their listeners and
// identities, relays, tcp-outlets and tcp-inlets, each resource a list
// item of one name (names may repeat across nodes) with its node's flag.
// Ockam's files have no section for services, secure channel listeners
// or a node's other TCP listeners: those of the session that every node
// does not have already are named in a comment, left out.

// YAML is the session as an Ockam configuration file.
func (s *Session) YAML() []byte {
	root := mapping()
	var nodes, relays, outlets, inlets []*yaml.Node
	var left []string
	for _, n := range s.Nodes {
		fields := mapping("tcp-listener-address", n.Listener)
		if n.Identity != "" {
			add(fields, "identity", n.Identity)
		}
		nodes = append(nodes, mapping(n.Name, fields))
		for _, r := range n.Relays {
			relays = append(relays, mapping(r.Name, mapping("at", "/node/"+r.At, "to", n.Name)))
		}
		for _, o := range n.Outlets {
			outlets = append(outlets, mapping(o.Name, mapping("at", n.Name, "to", o.To)))
		}
		for _, in := range n.Inlets {
			inlets = append(inlets, mapping(in.Alias, mapping("at", n.Name, "from", in.From, "to", in.To)))
		}
		for _, l := range n.TCPListeners {
			left = append(left, fmt.Sprintf("tcp-listener create %s --at %s", l.SocketAddr, n.Name))
		}
		for _, sv := range n.Services {
			if sv.Name != "hop" || sv.Type != "hop" {
				left = append(left, fmt.Sprintf("service start %s --addr %s --at %s", sv.Type, sv.Name, n.Name))
			}
		}
		for _, l := range n.SCListeners {
			if l.Name != defaultListener || len(l.Authorized) > 0 {
				cmd := fmt.Sprintf("secure-channel-listener create %s --at %s", l.Name, n.Name)
				if len(l.Authorized) > 0 {
					cmd += " --authorized " + strings.Join(l.Authorized, ",")
				}
				left = append(left, cmd)
			}
		}
	}
	for _, sec := range []struct {
		key   string
		items []*yaml.Node
	}{{"nodes", nodes}, {"relays", relays}, {"tcp-outlets", outlets}, {"tcp-inlets", inlets}} {
		if len(sec.items) > 0 {
			add(root, sec.key, &yaml.Node{Kind: yaml.SequenceNode, Content: sec.items})
		}
	}
	var b bytes.Buffer
	b.WriteString("# The session that 'ockam' commands built, for 'ockam run'.\n")
	for _, l := range left {
		fmt.Fprintf(&b, "# Left out (no section for it): ockam %s\n", l)
	}
	if len(root.Content) == 0 {
		return b.Bytes()
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(root) // a tree of strings: cannot fail
	_ = enc.Close()
	return b.Bytes()
}

// mapping is a YAML mapping of keys and values (strings or nodes).
func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		add(m, kv[i].(string), kv[i+1])
	}
	return m
}

func add(m *yaml.Node, key string, v any) {
	var val *yaml.Node
	switch v := v.(type) {
	case *yaml.Node:
		val = v
	case string:
		val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, val)
}

// SessionYAML is the session in OCKAM_HOME as Ockam's configuration file:
// what `ockamtop import ockam --yaml` prints.
func SessionYAML(environ []string) ([]byte, error) {
	r := &run{Env: Env{Environ: environ}}
	h, err := r.findHome()
	if err != nil {
		return nil, err
	}
	s, err := h.read()
	if err != nil {
		return nil, err
	}
	return s.YAML(), nil
}
