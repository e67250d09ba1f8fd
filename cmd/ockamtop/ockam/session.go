package ockam

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// Session is what the commands built: the nodes of OCKAM_HOME and their
// parts. Its topology (HCL) is what each node's process runs.
type Session struct {
	// Default is the default node: the first created, as in Ockam.
	Default string  `json:"default,omitempty"`
	Nodes   []*Node `json:"nodes"`
}

// Node is one node of the session.
type Node struct {
	Name string `json:"name"`
	// Listener is the node's TCP listener, HOST:PORT with a fixed port:
	// the other nodes' processes find it there.
	Listener string `json:"tcp_listener_address"`
	// TCPListeners are the listeners `tcp-listener create` added, beside
	// the node's own.
	TCPListeners []TCPListener `json:"tcp_listeners,omitempty"`
	// PID is the node's process; 0 when it was stopped.
	PID int `json:"pid,omitempty"`
	// Identity is --identity, the name of an identity of the session.
	Identity    string       `json:"identity,omitempty"`
	Services    []Service    `json:"services,omitempty"`
	Relays      []Relay      `json:"relays,omitempty"`
	Outlets     []Outlet     `json:"outlets,omitempty"`
	Inlets      []Inlet      `json:"inlets,omitempty"`
	Connections []Connection `json:"connections,omitempty"`
	SCListeners []SCListener `json:"secure_channel_listeners,omitempty"`
	Channels    []Channel    `json:"secure_channels,omitempty"`
}

// Service is a service started with `service start TYPE --addr NAME`.
type Service struct {
	Name string `json:"addr"`
	Type string `json:"type"`
}

// Relay is `relay create NAME --at NODE`: this node registers NAME at At.
type Relay struct {
	Name string `json:"name"`
	At   string `json:"at"`
}

// Outlet is `tcp-outlet create --from /service/NAME --to HOST:PORT`.
type Outlet struct {
	Name string `json:"addr"`
	To   string `json:"to"`
}

// Inlet is `tcp-inlet create --alias NAME --from HOST:PORT --to ROUTE`.
type Inlet struct {
	Alias string `json:"alias"`
	From  string `json:"from"`
	To    string `json:"to"`
	// Waiting is why the route does not walk yet (its outlet is not
	// there): the inlet waits, out of the topology (inlet_wait.go).
	Waiting string `json:"waiting,omitempty"`
}

// TCPListener is `tcp-listener create ADDRESS`: a listener of the node
// beside its own, which takes connections as its own does.
type TCPListener struct {
	// Address is its internal address, 32 hex digits, as Ockam names a
	// listener's processor (Ockam prints it with its "0#").
	Address string `json:"address"`
	// SocketAddr is HOST:PORT with a fixed port: the other nodes'
	// processes find it there.
	SocketAddr string `json:"socket_addr"`
	// FlowControl is its flow control id, as Ockam's --output json has one.
	FlowControl string `json:"flow_control_id"`
}

// Connection is `tcp-connection create --to HOST:PORT`: a name for the
// connection's route, /worker/HEX, that routes given to this node's
// commands may start with. The connection itself is opened on demand by
// the first message that takes it, as a route's /node/NAME is.
type Connection struct {
	Worker string `json:"worker"`
	To     string `json:"to"`
	// Node is the node of the session that listens at To, if one does.
	Node string `json:"node,omitempty"`
	// Other says that To is one of Node's other listeners (tcp-listener
	// create), not its own: the route names the socket, so that the
	// connection goes to that listener.
	Other bool `json:"other_listener,omitempty"`
}

// SCListener is `secure-channel-listener create NAME`.
type SCListener struct {
	Name       string   `json:"name"`
	Authorized []string `json:"authorized,omitempty"`
}

// Channel is `secure-channel create --to ROUTE`: a name for the channel's
// route, as Connection is for a connection's.
type Channel struct {
	Worker string `json:"worker"`
	// Route is the route of the channel with its /secure/NAME.
	Route string `json:"route"`
}

// node finds a node by name.
func (s *Session) node(name string) *Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// nodeListeningAt finds the node that has a listener at hostport: its
// own, or one that `tcp-listener create` added.
func (s *Session) nodeListeningAt(hostport string) *Node {
	n, _, _ := s.listenerAt(hostport)
	return n
}

// listenerAt finds the node that has a listener at hostport, the
// listener's address as the session has it, and whether that listener is
// the node's own.
func (s *Session) listenerAt(hostport string) (n *Node, addr string, own bool) {
	for _, n := range s.Nodes {
		if sameHostPort(n.Listener, hostport) {
			return n, n.Listener, true
		}
		for _, l := range n.TCPListeners {
			if sameHostPort(l.SocketAddr, hostport) {
				return n, l.SocketAddr, false
			}
		}
	}
	return nil, "", false
}

// sameHostPort compares two socket addresses, localhost and 127.0.0.1
// alike.
func sameHostPort(a, b string) bool { return normalHostPort(a) == normalHostPort(b) }

// normalHostPort is a socket address with localhost as 127.0.0.1.
func normalHostPort(s string) string { return strings.Replace(s, "localhost:", "127.0.0.1:", 1) }

// remove removes node name and the parts of other nodes that need it: the
// relays registered at it and the inlets whose routes cross it. It
// returns what it removed of the others, to say so.
func (s *Session) remove(name string) []removedPart {
	var gone []removedPart
	s.Nodes = slices.DeleteFunc(s.Nodes, func(n *Node) bool { return n.Name == name })
	for _, n := range s.Nodes {
		n.Relays = slices.DeleteFunc(n.Relays, func(r Relay) bool {
			if r.At == name {
				gone = append(gone, removedPart{n.Name, fmt.Sprintf("relay %s of node %s", r.Name, n.Name)})
				return true
			}
			return false
		})
		n.Inlets = slices.DeleteFunc(n.Inlets, func(in Inlet) bool {
			if routeNames(in.To, name) {
				gone = append(gone, removedPart{n.Name, fmt.Sprintf("tcp inlet %s of node %s", in.Alias, n.Name)})
				return true
			}
			return false
		})
		n.Connections = slices.DeleteFunc(n.Connections, func(c Connection) bool { return c.Node == name })
	}
	if s.Default == name {
		s.Default = ""
		if len(s.Nodes) > 0 {
			s.Default = s.Nodes[0].Name
		}
	}
	return gone
}

// removedPart is a part removed with the node it needed.
type removedPart struct{ node, what string }

// routeNames reports whether a route has the segment /node/NAME.
func routeNames(route, name string) bool {
	segs := strings.Split(route, "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "node" && segs[i+1] == name {
			return true
		}
	}
	return false
}

// HCL is the session as a topology file, formatted as `ockamtop fmt`
// formats. identities is the directory of the identity files, which the
// file names by absolute path ("": none, each node has the identity
// ockamtop keeps for it).
func (s *Session) HCL(identities string) []byte {
	var b bytes.Buffer
	b.WriteString("# The session that 'ockam' commands built; 'ockamtop apply' runs it.\n")
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "\nnode %s {\n  tcp_listener = %s\n", quote(n.Name), quote(n.Listener))
		if len(n.TCPListeners) > 0 {
			quoted := make([]string, len(n.TCPListeners))
			for i, l := range n.TCPListeners {
				quoted[i] = quote(l.SocketAddr)
			}
			fmt.Fprintf(&b, "  tcp_listeners = [%s]\n", strings.Join(quoted, ", "))
		}
		if identities != "" {
			fmt.Fprintf(&b, "  identity = %s\n", quote(filepath.Join(identities, "named", n.identity()+".identity")))
		}
		for _, sv := range n.Services {
			if sv.Type == sv.Name {
				fmt.Fprintf(&b, "\n  service %s {}\n", quote(sv.Name))
				continue
			}
			fmt.Fprintf(&b, "\n  service %s {\n    type = %s\n  }\n", quote(sv.Name), quote(sv.Type))
		}
		for _, l := range n.SCListeners {
			if len(l.Authorized) == 0 {
				fmt.Fprintf(&b, "\n  secure_channel_listener %s {}\n", quote(l.Name))
				continue
			}
			quoted := make([]string, len(l.Authorized))
			for i, a := range l.Authorized {
				quoted[i] = quote(a)
			}
			fmt.Fprintf(&b, "\n  secure_channel_listener %s {\n    trust = [%s]\n  }\n", quote(l.Name), strings.Join(quoted, ", "))
		}
		for _, r := range n.Relays {
			fmt.Fprintf(&b, "\n  relay %s {\n    at = node.%s\n  }\n", quote(r.Name), r.At)
		}
		for _, o := range n.Outlets {
			fmt.Fprintf(&b, "\n  tcp_outlet %s {\n    to = %s\n  }\n", quote(o.Name), quote(o.To))
		}
		for _, in := range n.Inlets {
			if in.Waiting != "" {
				b.WriteString(waitingComment(n, in))
				continue
			}
			fmt.Fprintf(&b, "\n  tcp_inlet %s {\n    from = %s\n    to = %s\n  }\n", quote(in.Alias), quote(in.From), quote(in.To))
		}
		b.WriteString("}\n")
	}
	return hclwrite.Format(b.Bytes())
}

// quote is s as an HCL string literal.
func quote(s string) string {
	return string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes())
}

// plan plans the session's topology, as each node's process will. Its
// error is the planner's diagnostics, worded for the command line.
func (s *Session) plan(h home) (*topology.Topology, error) {
	return planHCL(h.sessionFile(), s.HCL(h.identityDir()))
}

func planHCL(filename string, src []byte) (*topology.Topology, error) {
	t, _, diags := topology.LoadFiles([]schema.Source{{Filename: filename, Bytes: src}}, schema.Overrides{})
	if diags.HasErrors() {
		return nil, failf("%s", diagnosticText(diags))
	}
	return t, nil
}

// diagnosticText is the errors of diags, a sentence each.
func diagnosticText(diags hcl.Diagnostics) string {
	var b bytes.Buffer
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n    ")
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": ")
			b.WriteString(d.Detail)
		}
	}
	return b.String()
}
