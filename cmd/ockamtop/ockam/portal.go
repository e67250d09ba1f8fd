package ockam

import (
	"fmt"
	"slices"
	"strings"
)

// tcp-outlet and tcp-inlet: the two ends of a portal, as parts of their
// nodes (tcp_outlet and tcp_inlet blocks).

var outletCommands = map[string]*command{
	"create": {
		about: "Create a TCP Outlet on a node", maxPos: 0,
		flags: []flagSpec{
			{name: "at", value: "NODE_NAME", help: "the node of the outlet (default: the default node)"},
			{name: "from", value: "OUTLET_ADDRESS", help: "the outlet's address, /service/NAME or NAME", def: "/service/outlet"},
			{name: "to", value: "HOSTNAME_PORT", help: "the TCP server the outlet sends to"},
		},
		run: outletCreate,
	},
	"list":   {about: "List the TCP Outlets of a node", maxPos: 0, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, outputFlag}, run: outletList},
	"show":   {about: "Show a TCP Outlet", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, outputFlag}, run: outletShow},
	"delete": {about: "Delete a TCP Outlet", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, {name: "yes", short: "y", help: "do not ask for confirmation"}}, run: outletDelete},
}

func outletCreate(r *run, a *args) error {
	if !a.has("to") {
		return usagef("the following required arguments were not provided: --to <HOSTNAME_PORT>")
	}
	to, err := socketAddress(a.str("to"))
	if err != nil {
		return err
	}
	name := serviceName(a.str("from"))
	var node string
	err = r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		if slices.ContainsFunc(n.Outlets, func(o Outlet) bool { return o.Name == name }) {
			return failf("A TCP Outlet with address /service/%s already exists on the node %s", name, n.Name)
		}
		n.Outlets = append(n.Outlets, Outlet{Name: name, To: to})
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{
		plain:   okf("Created a new TCP Outlet in the Node %s at /service/%s bound to %s", node, name, to),
		machine: "/service/" + name,
		json:    map[string]string{"worker_addr": "/service/" + name, "to": to, "node": node},
	})
}

func outletList(r *run, a *args) error {
	s, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	_ = s
	var w strings.Builder
	if len(n.Outlets) == 0 {
		w.WriteString(infof("There are no TCP Outlets on the node %s", n.Name))
	}
	for _, o := range n.Outlets {
		fmt.Fprintf(&w, "│ TCP Outlet at /service/%s => %s\n", o.Name, o.To)
	}
	return r.answer(answer{plain: w.String(), json: nonNil(n.Outlets)})
}

func outletShow(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	name := serviceName(a.arg(0))
	for _, o := range n.Outlets {
		if o.Name == name {
			return r.answer(answer{plain: fmt.Sprintf("TCP Outlet:\n  Node: %s\n  From: /service/%s\n  To: %s\n", n.Name, o.Name, o.To), json: o})
		}
	}
	return failf("TCP Outlet with address /service/%s was not found on the node %s", name, n.Name)
}

func outletDelete(r *run, a *args) error {
	name := serviceName(a.arg(0))
	var node string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		i := slices.IndexFunc(n.Outlets, func(o Outlet) bool { return o.Name == name })
		if i < 0 {
			return failf("TCP Outlet with address /service/%s was not found on the node %s", name, n.Name)
		}
		n.Outlets = slices.Delete(n.Outlets, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{
		plain:   okf("TCP Outlet with address /service/%s on Node %s has been deleted", name, node),
		machine: name,
		json:    map[string]string{"alias": name, "node": node},
	})
}

var inletCommands = map[string]*command{
	"create": {
		about: "Create a TCP Inlet on a node", maxPos: 0,
		flags: []flagSpec{
			{name: "at", value: "NODE_NAME", help: "the node of the inlet (default: the default node)"},
			{name: "from", value: "SOCKET_ADDRESS", help: "where the inlet accepts TCP connections (default: a free port on 127.0.0.1)"},
			{name: "to", value: "ROUTE", help: "the route to the outlet; -/ROUTE reads its start from standard input"},
			{name: "alias", value: "ALIAS", help: "the inlet's name (default: a random one)"},
			{name: "connection-wait", value: "WAIT", help: "accepted: an inlet whose outlet is not there yet is created at once, and waits for it", def: "5s"},
			{name: "retry-wait", value: "RETRY", help: "accepted: a waiting inlet is tried again at each change of the session", def: "20s"},
			{name: "no-connection-wait", help: "do not say that the inlet could not reach its outlet"},
		},
		run: inletCreate,
	},
	"list":   {about: "List the TCP Inlets of a node", maxPos: 0, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, outputFlag}, run: inletList},
	"show":   {about: "Show a TCP Inlet", pos: "ALIAS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, outputFlag}, run: inletShow},
	"delete": {about: "Delete a TCP Inlet", pos: "ALIAS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "at", value: "NODE_NAME", help: "the node"}, {name: "yes", short: "y", help: "do not ask for confirmation"}}, run: inletDelete},
}

func inletCreate(r *run, a *args) error {
	if !a.has("to") {
		return usagef("the following required arguments were not provided: --to <ROUTE> (ockamtop has no project to default to)")
	}
	from := "127.0.0.1:0"
	if a.has("from") {
		var err error
		if from, err = socketAddress(a.str("from")); err != nil {
			return err
		}
	}
	alias := a.str("alias")
	if alias == "" {
		alias = "inlet-" + randomHex()[:8]
	}
	var node, to, waiting string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		var err error
		if to, err = r.route(s, n, a.str("to")); err != nil {
			return err
		}
		if err := inletRouteNodes(s, to); err != nil {
			return err
		}
		if slices.ContainsFunc(n.Inlets, func(in Inlet) bool { return in.Alias == alias }) {
			return failf("A TCP Inlet with alias %s already exists on the node %s", alias, n.Name)
		}
		if strings.HasSuffix(from, ":0") {
			if from, err = freePort(strings.TrimSuffix(from, ":0")); err != nil {
				return failf("pick a port: %v", err)
			}
		}
		for _, other := range s.Nodes {
			for _, in := range other.Inlets {
				if sameHostPort(in.From, from) {
					return failf("A TCP Inlet (%s of the node %s) already listens on %s", in.Alias, other.Name, from)
				}
			}
			if sameHostPort(other.Listener, from) {
				return failf("The node %s already listens on %s", other.Name, from)
			}
		}
		n.Inlets = append(n.Inlets, Inlet{Alias: alias, From: from, To: to})
		waiting = s.waitIfUnwalkable(r.home, n, alias)
		return nil
	})
	if err != nil {
		return err
	}
	out := map[string]string{"alias": alias, "bind_addr": from, "to": to, "node": node, "status": "up"}
	plain := okf("Created a new TCP Inlet in the Node %s bound to %s\n", node, from) + infof("It will forward traffic to %s", to)
	switch {
	case waiting != "" && a.flag("no-connection-wait"):
		out["status"] = "down"
		plain = okf("Created a new TCP Inlet in the Node %s bound to %s\n", node, from) +
			logf("It will automatically connect to the TCP Outlet at %s as soon as it is available", to)
	case waiting != "":
		// As Ockam words an inlet that could not reach its outlet.
		out["status"] = "down"
		plain = warnf("A TCP Inlet was created in the Node %s bound to %s but failed to connect to the TCP Outlet at %s\n", node, from, to) +
			infof("It will retry to connect automatically")
	}
	return r.answer(answer{plain: plain, machine: from, json: out})
}

func inletList(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	var w strings.Builder
	if len(n.Inlets) == 0 {
		w.WriteString(infof("There are no TCP Inlets on the node %s", n.Name))
	}
	for _, in := range n.Inlets {
		fmt.Fprintf(&w, "│ TCP Inlet %s at %s => %s%s\n", in.Alias, in.From, in.To, waitingNote(in))
	}
	return r.answer(answer{plain: w.String(), json: nonNil(n.Inlets)})
}

func inletShow(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	for _, in := range n.Inlets {
		if in.Alias == a.arg(0) {
			status := "UP"
			if in.Waiting != "" {
				status = "DOWN, waiting for its outlet: " + in.Waiting
			}
			return r.answer(answer{plain: fmt.Sprintf("TCP Inlet:\n  Alias: %s\n  Node: %s\n  From: %s\n  To: %s\n  Status: %s\n", in.Alias, n.Name, in.From, in.To, status), json: in})
		}
	}
	return failf("TCP Inlet with alias %s was not found on the node %s", a.arg(0), n.Name)
}

func inletDelete(r *run, a *args) error {
	alias := a.arg(0)
	var node string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		i := slices.IndexFunc(n.Inlets, func(in Inlet) bool { return in.Alias == alias })
		if i < 0 {
			return failf("TCP Inlet with alias %s was not found on the node %s", alias, n.Name)
		}
		n.Inlets = slices.Delete(n.Inlets, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{
		plain: okf("TCP Inlet with alias %s on Node %s has been deleted", alias, node),
		json:  map[string]string{"alias": alias, "node": node},
	})
}

// readNode reads the session and finds a node, for a command that
// changes nothing.
func (r *run) readNode(name string) (*Session, *Node, error) {
	s, err := r.home.read()
	if err != nil {
		return nil, nil, err
	}
	n, err := s.resolveNode(name)
	return s, n, err
}

// nonNil is s, or an empty list: JSON's [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
