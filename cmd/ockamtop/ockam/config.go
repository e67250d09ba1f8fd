package ockam

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Ockam's configuration files (`ockam node create FILE.yaml`, `ockam run
// FILE`) are commands written as YAML, as Ockam's run parser reads them:
// each section is a kind of resource, each resource a command whose
// name is its first argument and whose fields are its flags:
//
//	variables:            # $NAME and ${NAME} in the values below; the environment wins
//	  PORT: 5000
//	name: n1              # node create only: the node (with tcp-listener-address, identity)
//	nodes: [n2, n3]       # or n2, or {n2: {tcp-listener-address: ...}}
//	relays:               # relay create NAME --to (the file's node) --at ...
//	  n1:
//	    at: /node/n2
//	tcp-outlets:          # tcp-outlet create --from NAME --at (the file's node) --to ...
//	  db-outlet:
//	    to: $PORT
//	tcp-inlets:           # tcp-inlet create --alias NAME --at (the file's node) --from ... --to ...
//	  web-inlet:
//	    from: 6000
//	    to: /node/n2/service/forward_to_n1/service/db-outlet
//
// A section outside the local subset (ticket, policies, kafka-inlet, ...)
// is an error naming the key and its line.

// configSection is a kind of resource: its keys, the command its
// resources are, and which flag its resource's name is ("" the first
// argument).
type configSection struct {
	keys    []string
	command []string
	nameArg string
	// atFlag is the flag that takes the file's node, when not given.
	atFlag string
}

// configSections are the sections, in the order Ockam runs them.
var configSections = []configSection{
	{keys: []string{"vaults", "vault"}, command: []string{"vault", "create"}},
	{keys: []string{"identities", "identity"}, command: []string{"identity", "create"}},
	{keys: []string{"nodes", "node"}, command: []string{"node", "create"}},
	{keys: []string{"relays", "relay"}, command: []string{"relay", "create"}, atFlag: "to"},
	{keys: []string{"tcp-outlets", "tcp-outlet", "tcp_outlets"}, command: []string{"tcp-outlet", "create"}, nameArg: "from", atFlag: "at"},
	{keys: []string{"tcp-inlets", "tcp-inlet", "tcp_inlets"}, command: []string{"tcp-inlet", "create"}, nameArg: "alias", atFlag: "at"},
}

// nodeKeys are the top-level keys of `node create FILE.yaml` that are the
// node's own flags.
var nodeKeys = []string{"name", "tcp-listener-address", "identity"}

// configCommands reads a configuration file into the commands it stands
// for. nodeCreate is `node create FILE`, whose name and node flags make
// the first command.
func (r *run) configCommands(path string, nodeCreate bool) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, failf("read the configuration: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, failf("%s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, failf("%s:%d: a configuration is a mapping of sections", path, root.Line)
	}
	sections := map[string]*yaml.Node{}
	vars := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		switch {
		case key.Value == "variables":
			if val.Kind != yaml.MappingNode {
				return nil, failf("%s:%d: variables is a mapping of NAME: VALUE", path, key.Line)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				vars[val.Content[j].Value] = val.Content[j+1].Value
			}
		case slices.Contains(nodeKeys, key.Value) && nodeCreate:
			sections[key.Value] = val
		case slices.ContainsFunc(configSections, func(s configSection) bool { return slices.Contains(s.keys, key.Value) }):
			sections[key.Value] = val
		default:
			return nil, failf("%s:%d: the section '%s' is not supported by ockamtop's ockam (it runs nodes, relays, tcp-outlets, tcp-inlets, identities and vaults)", path, key.Line, key.Value)
		}
	}
	for name := range vars {
		if env := r.getenv(name); env != "" {
			vars[name] = env
		}
	}
	expand := func(n *yaml.Node) (string, error) { return expandVars(path, n, vars, r.getenv) }
	var cmds [][]string
	node := ""
	if nodeCreate {
		cmd := []string{"node", "create"}
		if n := sections["name"]; n != nil {
			name, err := expand(n)
			if err != nil {
				return nil, err
			}
			node = name
			cmd = append(cmd, name)
		}
		for _, k := range nodeKeys[1:] {
			if n := sections[k]; n != nil {
				v, err := expand(n)
				if err != nil {
					return nil, err
				}
				cmd = append(cmd, "--"+k, v)
			}
		}
		cmds = append(cmds, cmd)
	}
	for _, sec := range configSections {
		for _, k := range sec.keys {
			n := sections[k]
			if n == nil {
				continue
			}
			res, err := resources(path, n, expand)
			if err != nil {
				return nil, err
			}
			for _, rs := range res {
				cmd := slices.Clone(sec.command)
				if sec.nameArg == "" {
					cmd = append(cmd, rs.name)
				} else {
					cmd = append(cmd, "--"+sec.nameArg, rs.name)
				}
				cmd = append(cmd, rs.flags...)
				if sec.atFlag != "" && node != "" && !slices.Contains(rs.flags, "--"+sec.atFlag) {
					cmd = append(cmd, "--"+sec.atFlag, node)
				}
				cmds = append(cmds, cmd)
				if sec.command[0] == "node" && node == "" {
					node = rs.name // the file's first node takes its parts
				}
			}
		}
	}
	return cmds, nil
}

// resource is one resource of a section: its name and its flags.
type resource struct {
	name  string
	flags []string
}

// resources reads a section: a name, a list of names, or a mapping of
// names to their fields (or to nothing).
func resources(path string, n *yaml.Node, expand func(*yaml.Node) (string, error)) ([]resource, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := expand(n)
		return []resource{{name: v}}, err
	case yaml.SequenceNode:
		var out []resource
		for _, item := range n.Content {
			rs, err := resources(path, item, expand)
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
		}
		return out, nil
	case yaml.MappingNode:
		var out []resource
		for i := 0; i+1 < len(n.Content); i += 2 {
			rs := resource{name: n.Content[i].Value}
			fields := n.Content[i+1]
			if fields.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(fields.Content); j += 2 {
					k, v := fields.Content[j], fields.Content[j+1]
					if v.Kind != yaml.ScalarNode {
						return nil, failf("%s:%d: the field '%s' of %s is not a single value", path, k.Line, k.Value, rs.name)
					}
					val, err := expand(v)
					if err != nil {
						return nil, err
					}
					if v.Tag == "!!bool" {
						if val == "true" {
							rs.flags = append(rs.flags, "--"+k.Value)
						}
						continue
					}
					rs.flags = append(rs.flags, "--"+k.Value, val)
				}
			} else if fields.Kind != yaml.ScalarNode || fields.Tag != "!!null" {
				return nil, failf("%s:%d: the fields of %s are a mapping of flag: value", path, fields.Line, rs.name)
			}
			out = append(out, rs)
		}
		return out, nil
	}
	return nil, failf("%s:%d: not a name, a list of names, or a mapping of names to their fields", path, n.Line)
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandVars replaces $NAME and ${NAME} in a value by the variables, then
// the environment; an unknown name is an error at its line.
func expandVars(path string, n *yaml.Node, vars map[string]string, getenv func(string) string) (string, error) {
	var missing string
	out := varRef.ReplaceAllStringFunc(n.Value, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		if v := getenv(name); v != "" {
			return v
		}
		missing = name
		return m
	})
	if missing != "" {
		return "", failf("%s:%d: the variable %s is not set (in variables, or the environment)", path, n.Line, missing)
	}
	return out, nil
}

// runConfig runs the commands of a configuration file, one after the
// other, printing what each prints.
func (r *run) runConfig(path string, nodeCreate bool) error {
	cmds, err := r.configCommands(path, nodeCreate)
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		if err := r.self.dispatch(cmd); err != nil {
			if ce, ok := err.(*cmdError); ok {
				ce.msg = fmt.Sprintf("%s (from %s: ockam %s)", ce.msg, path, strings.Join(cmd, " "))
			}
			return err
		}
	}
	return nil
}

var runCommand = &command{
	about: "Create the nodes, relays and portals of a configuration file", pos: "[FILE]", maxPos: 1,
	run: func(r *run, a *args) error {
		path := a.arg(0)
		if path == "" {
			path = "ockam.yaml"
		}
		return r.runConfig(path, false)
	},
}

// isNodeConfig reports whether a configuration file is one node's (`node
// create FILE`: a top-level name or tcp-listener-address) rather than
// run's.
func isNodeConfig(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var top map[string]any
	if yaml.Unmarshal(b, &top) != nil {
		return false
	}
	_, name := top["name"]
	_, addr := top["tcp-listener-address"]
	return name || addr
}
