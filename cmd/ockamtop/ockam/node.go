package ockam

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/ockamtop/ockamtop/runtime/securechannel"
)

var nodeCommands = map[string]*command{
	"create": {
		about: "Create a new node",
		pos:   "[NAME]", minPos: 0, maxPos: 1,
		flags: []flagSpec{
			{name: "tcp-listener-address", value: "SOCKET_ADDRESS", help: "the node's TCP listener", def: "127.0.0.1:0"},
			{name: "foreground", short: "f", help: "run the node in this process, not in the background"},
			{name: "identity", value: "IDENTITY_NAME", help: "the identity of the node (accepted; each node has its own)"},
			{name: "skip-is-running-check", short: "s", help: "do not fail when the node already runs"},
			{name: "child-process", help: "(internal) the background process of a node"},
		},
		hiddenFlag: []string{"child-process"},
		run:        nodeCreate,
	},
	"list": {about: "List the nodes", pos: "", maxPos: 0, flags: []flagSpec{outputFlag}, run: nodeList},
	"show": {about: "Show a node", pos: "[NAME]", maxPos: 1, flags: []flagSpec{outputFlag}, run: nodeShow},
	"delete": {
		about: "Delete nodes", pos: "[NAME]", maxPos: 1,
		flags: []flagSpec{
			{name: "all", short: "a", help: "delete every node"},
			{name: "yes", short: "y", help: "do not ask for confirmation"},
			{name: "force", short: "f", help: "kill the nodes' processes (SIGKILL) rather than stopping them"},
		},
		run: nodeDelete,
	},
	"stop":    {about: "Stop a node's process, keeping the node", pos: "[NAME]", maxPos: 1, flags: []flagSpec{{name: "force", short: "f", help: "kill the process (SIGKILL)"}}, run: nodeStop},
	"start":   {about: "Start a stopped node again, with its parts", pos: "[NAME]", maxPos: 1, run: nodeStart},
	"default": {about: "Show the default node, or set it", pos: "[NAME]", maxPos: 1, run: nodeDefault},
	"logs": {about: "Print the path of a node's log file", pos: "[NAME]", maxPos: 1, run: func(r *run, a *args) error {
		_, n, err := r.readNode(a.arg(0))
		if err != nil {
			return err
		}
		path := r.home.logFile(n.Name)
		return r.answer(answer{plain: okf("The path for the log file is: %s", path), machine: path, json: map[string]string{"path": path}})
	}},
}

func nodeCreate(r *run, a *args) error {
	name := a.arg(0)
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		return r.runConfig(name, true)
	}
	if a.flag("child-process") {
		return r.runNode(name, true)
	}
	if err := r.home.checkSocketPath(); err != nil {
		return err // before the node is in the session
	}
	if name == "" {
		name = "node-" + randomHex()[:8]
	}
	addr, err := socketAddress(a.str("tcp-listener-address"))
	if err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	n := l.s.node(name)
	created := n == nil
	picked := false // the listener's port was picked here
	switch {
	case n != nil && r.running(n):
		if a.flag("skip-is-running-check") {
			return nil
		}
		return failf("Node %s has been already created", name)
	case n == nil:
		picked = strings.HasSuffix(addr, ":0")
		if addr, err = pickListener(l.s, addr); err != nil {
			return err
		}
		// A hop service from the start: the routing page sends through
		// /service/hop of a node it only created.
		// And the secure channel listener api, as every Ockam node has.
		n = &Node{Name: name, Listener: addr, Identity: a.str("identity"), Services: []Service{{Name: "hop", Type: "hop"}},
			SCListeners: []SCListener{{Name: defaultListener}}}
		if _, err := r.home.loadIdentity(n.identity(), true); err != nil {
			return failf("the identity of node %s: %v", name, err)
		}
		l.s.Nodes = append(l.s.Nodes, n)
		if l.s.Default == "" {
			l.s.Default = name
		}
	}
	// (A node that exists and does not run is started again with its
	// parts, as it was: created again after it was killed.)
	if _, err := l.s.plan(r.home); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	if r.dryRun {
		return r.answer(answer{plain: okf("Created a new Node named %s", name), machine: name})
	}
	if a.flag("foreground") {
		n.PID = os.Getpid()
		if err := l.save(); err != nil {
			return err
		}
		l.unlock()
		return r.runNode(name, false)
	}
	pid, err := r.spawn(name)
	// A port picked free may be taken before the node binds it (by a
	// connection's local port): pick another.
	for try := 0; err != nil && created && picked && try < 3 && strings.Contains(err.Error(), "address already in use"); try++ {
		host, _, _ := net.SplitHostPort(n.Listener)
		if n.Listener, err = freePort(host); err != nil {
			err = failf("pick a port on %s: %v", host, err)
			break
		}
		if err = l.save(); err == nil {
			pid, err = r.spawn(name)
		}
	}
	if err != nil {
		if created { // a node that never ran is not left in the session
			l.s.remove(name)
			_ = l.save()
		}
		return err
	}
	n.PID = pid
	if err := l.save(); err != nil {
		return err
	}
	plain := okf("Created a new Node named %s", name)
	if l.s.Default == name {
		plain += okf("Marked %s as your default Node, on this machine", name)
	}
	plain += fmt.Sprintf("\n  To see more details on this Node, run: ockam node show %s\n", name)
	return r.answer(answer{plain: plain, machine: name, json: func() any { return r.nodeInfo(l.s, n, true) }})
}

// pickListener picks a free port for a listener on port 0, and refuses an
// address that another node of the session listens on.
func pickListener(s *Session, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef("invalid value '%s' for '--tcp-listener-address'", addr)
	}
	if port == "0" {
		picked, err := freePort(host)
		if err != nil {
			return "", failf("pick a port on %s: %v", host, err)
		}
		return picked, nil
	}
	if other := s.nodeListeningAt(addr); other != nil {
		return "", failf("Node %s already listens on %s", other.Name, addr)
	}
	return addr, nil
}

// nodeInfo is a node as list and show print it in JSON: Ockam's field
// names where scripts read them.
type nodeInfo struct {
	Name       string      `json:"name"`
	NodeName   string      `json:"node_name"`
	IsDefault  bool        `json:"is_default"`
	Status     string      `json:"status"`
	PID        *int        `json:"pid"`
	Listener   string      `json:"tcp_listener_address"`
	Route      *nodeRoute  `json:"route,omitempty"`
	Identifier string      `json:"identifier,omitempty"`
	Services   []string    `json:"services,omitempty"`
	Relays     []relayInfo `json:"relays,omitempty"`
	Outlets    []Outlet    `json:"outlets,omitempty"`
	Inlets     []Inlet     `json:"inlets,omitempty"`
	// SecureChannels are the channels open in the node's process, both
	// sides.
	SecureChannels []securechannel.Info `json:"secure_channels,omitempty"`
	Log            string               `json:"log,omitempty"`
}

type nodeRoute struct {
	Short   string `json:"short"`
	Verbose string `json:"verbose"`
}

type relayInfo struct {
	Name          string `json:"name"`
	At            string `json:"at"`
	RemoteAddress string `json:"remote_address"`
	Status        string `json:"connection_status,omitempty"`
}

// nodeInfo describes node n, asking its process when full.
func (r *run) nodeInfo(s *Session, n *Node, full bool) nodeInfo {
	info := nodeInfo{Name: n.Name, NodeName: n.Name, IsDefault: s.Default == n.Name, Status: "stopped", Listener: n.Listener}
	if r.running(n) {
		info.Status = "running"
		pid := n.PID
		info.PID = &pid
	}
	if !full {
		return info
	}
	info.Route = &nodeRoute{Short: "/node/" + n.Name, Verbose: (Connection{To: n.Listener}).route()}
	info.Outlets, info.Inlets = n.Outlets, n.Inlets
	for _, rl := range n.Relays {
		info.Relays = append(info.Relays, relayInfo{Name: rl.Name, At: "/node/" + rl.At, RemoteAddress: "/service/forward_to_" + rl.Name})
	}
	info.Log = r.home.logFile(n.Name)
	if info.Status != "running" {
		return info
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st nodeStatus
	if err := call(ctx, r.home.socket(n.PID), "GET", "/status", nil, &st); err != nil || st.Status == nil {
		info.Status = "not answering"
		return info
	}
	info.Identifier = st.Status.Identifier
	info.SecureChannels = st.Status.SecureChannels
	info.Services = slices.Sorted(slices.Values(st.Status.Services))
	for i := range info.Relays {
		for _, rs := range st.Status.Relays {
			if rs.Name == info.Relays[i].Name {
				info.Relays[i].Status = string(rs.State)
			}
		}
	}
	return info
}

func nodeList(r *run, _ *args) error {
	s, err := r.home.read()
	if err != nil {
		return err
	}
	infos := make([]nodeInfo, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		infos = append(infos, r.nodeInfo(s, n, false))
	}
	var w strings.Builder
	if len(infos) == 0 {
		w.WriteString(infof("There are no nodes to show"))
	}
	for i, in := range infos {
		if i > 0 {
			w.WriteString("\n")
		}
		def := ""
		if in.IsDefault {
			def = " (default)"
		}
		fmt.Fprintf(&w, "│ Node %s%s %s\n", in.Name, def, upDown(in.Status))
		fmt.Fprintf(&w, "│ TCP listener at %s\n", in.Listener)
		if in.PID != nil {
			fmt.Fprintf(&w, "│ Process ID %d\n", *in.PID)
		}
	}
	return r.answer(answer{plain: w.String(), json: infos})
}

func upDown(status string) string {
	if status == "running" {
		return "UP"
	}
	return "DOWN"
}

func nodeShow(r *run, a *args) error {
	s, err := r.home.read()
	if err != nil {
		return err
	}
	n, err := s.resolveNode(a.arg(0))
	if err != nil {
		return err
	}
	in := r.nodeInfo(s, n, true)
	w := &strings.Builder{}
	fmt.Fprintf(w, "Node:\n  Name: %s\n  Status: %s\n", in.Name, upDown(in.Status))
	fmt.Fprintf(w, "  Route To Node:\n    Short: %s\n    Verbose: %s\n", in.Route.Short, in.Route.Verbose)
	if in.Identifier != "" {
		fmt.Fprintf(w, "  Identity: %s\n", in.Identifier)
	}
	if in.PID != nil {
		fmt.Fprintf(w, "  PID: %d\n", *in.PID)
	}
	fmt.Fprintf(w, "  Transports:\n    TCP Listener at %s\n", in.Listener)
	for _, l := range n.TCPListeners {
		fmt.Fprintf(w, "    TCP Listener at %s\n", l.SocketAddr)
	}
	if len(in.Services) > 0 {
		fmt.Fprintf(w, "  Services:\n")
		for _, sv := range in.Services {
			fmt.Fprintf(w, "    /service/%s\n", sv)
		}
	}
	if len(in.Relays) > 0 {
		fmt.Fprintf(w, "  Relays:\n")
		for _, rl := range in.Relays {
			fmt.Fprintf(w, "    %s at %s%s %s\n", rl.Name, rl.At, rl.RemoteAddress, rl.Status)
		}
	}
	if len(in.Outlets) > 0 {
		fmt.Fprintf(w, "  TCP Outlets:\n")
		for _, o := range in.Outlets {
			fmt.Fprintf(w, "    /service/%s => %s\n", o.Name, o.To)
		}
	}
	if len(in.Inlets) > 0 {
		fmt.Fprintf(w, "  TCP Inlets:\n")
		for _, i := range in.Inlets {
			fmt.Fprintf(w, "    %s: %s => %s%s\n", i.Alias, i.From, i.To, waitingNote(i))
		}
	}
	return r.answer(answer{plain: w.String(), json: in})
}

func nodeDelete(r *run, a *args) error {
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	var names []string
	if a.flag("all") {
		for _, n := range l.s.Nodes {
			names = append(names, n.Name)
		}
	} else {
		n, err := l.s.resolveNode(a.arg(0))
		if err != nil {
			return err
		}
		names = []string{n.Name}
	}
	for _, name := range names {
		if err := r.stopNode(l.s.node(name), a.flag("force")); err != nil {
			return err
		}
	}
	var gone []removedPart
	for _, name := range names {
		gone = append(gone, l.s.remove(name)...)
	}
	if err := l.save(); err != nil {
		return err
	}
	var changed []string
	for _, g := range gone {
		changed = append(changed, g.node)
	}
	r.reconcileNodes(l.s, changed)
	var plain strings.Builder
	deleted := []map[string]string{}
	for _, name := range names {
		plain.WriteString(okf("Node with name %s has been deleted", name))
		deleted = append(deleted, map[string]string{"name": name})
	}
	for _, g := range gone {
		if l.s.node(g.node) != nil {
			plain.WriteString(okf("The %s, which needed it, has been deleted too", g.what))
		}
	}
	if len(names) == 0 {
		plain.WriteString(infof("There are no nodes to delete"))
	}
	var js any = deleted
	if len(deleted) == 1 {
		js = deleted[0]
	}
	return r.answer(answer{plain: plain.String(), machine: strings.Join(names, "\n"), json: js})
}

func nodeStop(r *run, a *args) error {
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	n, err := l.s.resolveNode(a.arg(0))
	if err != nil {
		return err
	}
	if !r.running(n) {
		return failf("Node %s is not running", n.Name)
	}
	if err := r.stopNode(n, a.flag("force")); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	return r.answer(answer{plain: okf("Node %s stopped", n.Name)})
}

func nodeStart(r *run, a *args) error {
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	n, err := l.s.resolveNode(a.arg(0))
	if err != nil {
		return err
	}
	if r.running(n) {
		return failf("Node %s is already running", n.Name)
	}
	pid, err := r.spawn(n.Name)
	if err != nil {
		return err
	}
	n.PID = pid
	if err := l.save(); err != nil {
		return err
	}
	return r.answer(answer{plain: okf("Node %s started", n.Name), json: func() any { return r.nodeInfo(l.s, n, true) }})
}

func nodeDefault(r *run, a *args) error {
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	if a.arg(0) == "" {
		if l.s.Default == "" {
			return failf("There is no default node")
		}
		return r.answer(answer{plain: infof("The default node is %s", l.s.Default), machine: l.s.Default})
	}
	n, err := l.s.resolveNode(a.arg(0))
	if err != nil {
		return err
	}
	l.s.Default = n.Name
	if err := l.save(); err != nil {
		return err
	}
	return r.answer(answer{plain: okf("The node %s is now the default", n.Name), machine: n.Name})
}

// checkName refuses a node name that the topology cannot hold (nor name
// its files with): a letter, then letters, digits, '_' and '-'.
func checkName(name string) error {
	if len(name) > 128 || !hclsyntax.ValidIdentifier(name) {
		return usagef("invalid node name '%s': a node name starts with a letter and holds only letters, digits, '_' and '-', at most 128 of them", name)
	}
	return nil
}
