package ockam

import (
	"fmt"
	"slices"
	"strings"
)

// tcp-connection: a name for a node's TCP connection to another node.

var connectionCommands = map[string]*command{
	"create": {
		about: "Create a TCP connection", maxPos: 0,
		flags: []flagSpec{
			{name: "from", value: "NODE", help: "the node that connects (default: the default node)"},
			{name: "to", short: "t", value: "ADDRESS", help: "where it connects: HOST:PORT, a port, /ip4/A/tcp/P or /node/NAME"},
			outputFlag,
		},
		run: connectionCreate,
	},
	"list":   {about: "List the TCP connections of a node", maxPos: 0, flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, {name: "from", value: "NODE", help: "the node"}, outputFlag}, run: connectionList},
	"show":   {about: "Show a TCP connection", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, {name: "from", value: "NODE", help: "the node"}, outputFlag}, run: connectionShow},
	"delete": {about: "Delete a TCP connection", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, {name: "from", value: "NODE", help: "the node"}, {name: "yes", short: "y", help: "do not ask for confirmation"}}, run: connectionDelete},
}

// connectionOut is a connection in JSON.
type connectionOut struct {
	Route string `json:"route"`
	From  string `json:"from"`
	To    string `json:"to"`
	Node  string `json:"node,omitempty"`
}

// item is a connection as a terminal shows it.
func (c connectionOut) item() string {
	return fmt.Sprintf("│ TCP connection %s\n│ From /node/%s to %s\n", c.Route, c.From, c.To)
}

func connectionCreate(r *run, a *args) error {
	if !a.has("to") {
		return usagef("the following required arguments were not provided: --to <ADDRESS>")
	}
	var c Connection
	var from string
	err := r.change(a.str("from"), func(s *Session, n *Node) error {
		from = n.Name
		to := a.str("to")
		if strings.HasPrefix(to, "/node/") {
			peer, err := s.resolveNode(to)
			if err != nil {
				return err
			}
			c = Connection{Worker: randomHex(), To: peer.Listener, Node: peer.Name}
		} else {
			addr, err := socketAddress(to)
			if err != nil {
				return err
			}
			c = Connection{Worker: randomHex(), To: addr}
			if peer, at, own := s.listenerAt(addr); peer != nil {
				// One of its other listeners: the route names it as the
				// session does (127.0.0.1 for localhost), so that the
				// planner knows the node behind it.
				c.Node, c.Other = peer.Name, !own
				if !own {
					c.To = at
				}
			}
		}
		n.Connections = append(n.Connections, c)
		return nil
	})
	if err != nil {
		return err
	}
	out := connectionOut{Route: "/worker/" + c.Worker, From: from, To: c.To, Node: c.Node}
	return r.answer(answer{plain: out.item(), machine: out.Route, json: out})
}

func (r *run) connectionNode(a *args) string {
	if a.has("from") {
		return a.str("from")
	}
	return a.str("at")
}

func connectionList(r *run, a *args) error {
	_, n, err := r.readNode(r.connectionNode(a))
	if err != nil {
		return err
	}
	out := []connectionOut{}
	for _, c := range n.Connections {
		out = append(out, connectionOut{Route: "/worker/" + c.Worker, From: n.Name, To: c.To, Node: c.Node})
	}
	var w strings.Builder
	if len(out) == 0 {
		w.WriteString(infof("There are no TCP connections on the node %s", n.Name))
	}
	for _, c := range out {
		fmt.Fprintf(&w, "│ TCP connection %s => %s\n", c.Route, c.To)
	}
	return r.answer(answer{plain: w.String(), json: out})
}

func connectionShow(r *run, a *args) error {
	_, n, err := r.readNode(r.connectionNode(a))
	if err != nil {
		return err
	}
	for _, c := range n.Connections {
		if c.Worker == serviceName(a.arg(0)) {
			out := connectionOut{Route: "/worker/" + c.Worker, From: n.Name, To: c.To, Node: c.Node}
			return r.answer(answer{plain: fmt.Sprintf("TCP connection:\n  Route: %s\n  From: %s\n  To: %s\n", out.Route, out.From, out.To), json: out})
		}
	}
	return failf("TCP connection %s was not found on the node %s", a.arg(0), n.Name)
}

func connectionDelete(r *run, a *args) error {
	worker := serviceName(a.arg(0))
	err := r.change(r.connectionNode(a), func(s *Session, n *Node) error {
		i := slices.IndexFunc(n.Connections, func(c Connection) bool { return c.Worker == worker })
		if i < 0 {
			return failf("TCP connection %s was not found on the node %s", a.arg(0), n.Name)
		}
		n.Connections = slices.Delete(n.Connections, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{plain: okf("TCP connection /worker/%s has been deleted", worker), json: map[string]string{"address": "/worker/" + worker}})
}
