package ockam

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
)

// tcp-listener: a node's TCP listeners. Every node has its own, made by
// `node create --tcp-listener-address`, which /node/NAME dials; `tcp-listener
// create` adds more (the session's tcp_listeners of the node), each taking
// connections as the node's own does, and `delete` closes one while the
// node and its other parts run on. A listener is named by its internal
// address (32 hex digits, as Ockam names a listener's processor) or its
// socket address.

var listenerCommands = map[string]*command{
	"create": {
		about: "Create a TCP listener", pos: "ADDRESS", minPos: 1, maxPos: 1,
		flags: []flagSpec{{name: "at", value: "NODE", help: "the node at which to create the listener"}, outputFlag},
		run:   listenerCreate,
	},
	"list": {about: "List the TCP listeners of a node", maxPos: 0, flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, outputFlag}, run: listenerList},
	"show": {
		about: "Show a TCP listener", pos: "ADDRESS", minPos: 1, maxPos: 1,
		flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, outputFlag},
		run:   listenerShow,
	},
	"delete": {
		about: "Delete a TCP listener (not the node's own)", pos: "ADDRESS", minPos: 1, maxPos: 1,
		flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, {name: "yes", short: "y", help: "do not ask for confirmation"}, outputFlag},
		run:   listenerDelete,
	},
}

// listenerOut is a listener as Ockam's --output json gives it (its
// TransportStatus), with the node it is on, whether it is the node's own,
// and its route for the next commands.
type listenerOut struct {
	Type             string `json:"type"`
	Mode             string `json:"mode"`
	SocketAddr       string `json:"socket_addr"`
	WorkerAddr       string `json:"worker_addr"`
	ProcessorAddress string `json:"processor_address"`
	FlowControlID    string `json:"flow_control_id"`
	Node             string `json:"node"`
	Own              bool   `json:"own"`
	Route            string `json:"route"`
}

// listeners lists node n's TCP listeners, its own first.
func listeners(n *Node) []TCPListener {
	own := TCPListener{Address: derivedHex("listener", n), SocketAddr: n.Listener, FlowControl: derivedHex("flow control", n)}
	return append([]TCPListener{own}, n.TCPListeners...)
}

// derivedHex names something of a node's own listener that the session
// does not keep, the same every time: 32 hex digits.
func derivedHex(what string, n *Node) string {
	sum := sha256.Sum256([]byte(what + "\x00" + n.Name + "\x00" + n.Listener))
	return hex.EncodeToString(sum[:16])
}

func (l TCPListener) out(n *Node) listenerOut {
	return listenerOut{
		Type: "Tcp", Mode: "Listen", SocketAddr: l.SocketAddr, WorkerAddr: "<none>",
		ProcessorAddress: "0#" + l.Address, FlowControlID: l.FlowControl,
		Node: n.Name, Own: l.SocketAddr == n.Listener, Route: (Connection{To: l.SocketAddr}).route(),
	}
}

// String is the listener as Ockam displays it.
func (o listenerOut) String() string { return "TCP, Listening at " + o.SocketAddr }

// findListener finds which of n's listeners address names: its internal
// address (with or without Ockam's "0#") or its socket address. -1 if
// none does.
func findListener(n *Node, address string) int {
	all := listeners(n)
	if i := slices.IndexFunc(all, func(l TCPListener) bool { return l.Address == strings.TrimPrefix(address, "0#") }); i >= 0 {
		return i
	}
	if addr, err := socketAddress(address); err == nil {
		return slices.IndexFunc(all, func(l TCPListener) bool { return sameHostPort(l.SocketAddr, addr) })
	}
	return -1
}

func listenerCreate(r *run, a *args) error {
	want, err := socketAddress(a.arg(0))
	if err != nil {
		return err
	}
	var l TCPListener
	var node *Node
	create := func(s *Session, n *Node) error {
		node = n
		addr, err := listenerAddress(s, want)
		if err != nil {
			return err
		}
		l = TCPListener{Address: randomHex(), SocketAddr: addr, FlowControl: randomHex()}
		n.TCPListeners = append(n.TCPListeners, l)
		return nil
	}
	err = r.change(a.str("at"), create)
	// A port picked free may be taken before the node binds it (by a
	// connection's local port): the change was undone; pick another.
	for try := 0; err != nil && strings.HasSuffix(want, ":0") && try < 3 && strings.Contains(err.Error(), "address already in use"); try++ {
		err = r.change(a.str("at"), create)
	}
	if err != nil {
		return err
	}
	// The other nodes are not told: they may dial it for a message from
	// the network as soon as the session has it (peers, dial.go).
	return r.answer(answer{
		plain: okf("Tcp listener created! You can send messages to it via this route:\n    %s", createdRoute(l.SocketAddr)),
		json:  l.out(node),
	})
}

// listenerAddress is where a new listener binds: a port picked for port 0
// (the other nodes' processes find it at a fixed one), or addr if no
// node of the session listens there and nothing else on this host does.
func listenerAddress(s *Session, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef("invalid value '%s' for '<ADDRESS>'", addr)
	}
	if port == "0" {
		picked, err := freePort(host)
		if err != nil {
			return "", failf("Unable to listen on %s: %v", addr, err)
		}
		return picked, nil
	}
	if other := s.nodeListeningAt(addr); other != nil {
		return "", failf("Unable to listen on %s: the node %s listens there already", addr, other.Name)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		why := err.Error()
		if errors.Is(err, syscall.EADDRINUSE) {
			why = "the address is in use"
		}
		return "", failf("Unable to listen on %s: %s", addr, why)
	}
	_ = ln.Close()
	return addr, nil
}

// createdRoute is the route `tcp-listener create` prints: Ockam's
// /dnsaddr/localhost/tcp/PORT for a listener that localhost reaches, its
// address for one on another host.
func createdRoute(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	switch host {
	case "127.0.0.1", "localhost", "0.0.0.0", "::", "::1":
		return "/dnsaddr/localhost/tcp/" + port
	}
	return (Connection{To: addr}).route()
}

func listenerList(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	out := []listenerOut{}
	for _, l := range listeners(n) {
		out = append(out, l.out(n))
	}
	var w strings.Builder
	for _, o := range out {
		own := ""
		if o.Own {
			own = " (the node's own)"
		}
		fmt.Fprintf(&w, "│ %s%s\n│   Internal address %s, route %s\n", o, own, o.ProcessorAddress, o.Route)
	}
	return r.answer(answer{plain: w.String(), json: out})
}

func listenerShow(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	i := findListener(n, a.arg(0))
	if i < 0 {
		return failf("Listener %s was not found in the registry.", a.arg(0))
	}
	o := listeners(n)[i].out(n)
	return r.answer(answer{plain: fmt.Sprintf("%s\n  Internal address: %s\n  Route: %s\n  Node: %s\n", o, o.ProcessorAddress, o.Route, n.Name), json: o})
}

func listenerDelete(r *run, a *args) error {
	address := a.arg(0)
	var node string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		switch i := findListener(n, address); {
		case i < 0:
			return failf("TCP listener with address %s was not found on Node %s", address, n.Name)
		case i == 0:
			return failf("The TCP listener %s is the node %s's own, which /node/%s dials: delete the node to close it", n.Listener, n.Name, n.Name)
		default:
			n.TCPListeners = slices.Delete(n.TCPListeners, i-1, i)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{plain: okf("TCP listener with address %s on Node %s has been deleted", address, node), json: map[string]string{"node": node}})
}
