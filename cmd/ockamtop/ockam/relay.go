package ockam

import (
	"fmt"
	"slices"
	"strings"
)

// relay create NAME --at NODE --to NODE: node --to registers NAME at the
// node --at, which then forwards /service/forward_to_NAME to it (a relay
// block of the --to node, at = node.AT).

var relayCommands = map[string]*command{
	"create": {
		about: "Create a Relay", pos: "[NAME]", maxPos: 1,
		flags: []flagSpec{
			{name: "to", value: "NODE_NAME", help: "the node that registers the relay (default: the default node)"},
			{name: "at", value: "ROUTE", help: "the node that runs the relay: /node/NAME, NAME, or its listener's /ip4/A/tcp/P"},
			{name: "relay-address", value: "RELAY_ADDRESS", help: "the relay's address (default: its name)"},
			{name: "no-connection-wait", help: "accepted; the relay's node registers it before the command returns"},
			{name: "authorized", value: "AUTHORIZED", help: "not supported: the relay service runs without a secure channel"},
		},
		run: relayCreate,
	},
	"list":   {about: "List the Relays a node registered", maxPos: 0, flags: []flagSpec{{name: "to", value: "NODE_NAME", help: "the node"}, outputFlag}, run: relayList},
	"show":   {about: "Show a Relay", pos: "NAME", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "to", value: "NODE_NAME", help: "the node"}, outputFlag}, run: relayShow},
	"delete": {about: "Delete a Relay", pos: "NAME", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "to", value: "NODE_NAME", help: "the node"}, {name: "yes", short: "y", help: "do not ask for confirmation"}}, run: relayDelete},
}

func relayCreate(r *run, a *args) error {
	name := a.arg(0)
	if name == "" {
		name = "default"
	}
	if a.has("relay-address") && a.str("relay-address") != name {
		return failf("'--relay-address' other than the relay's name is not supported by ockamtop's ockam")
	}
	if a.has("authorized") {
		return failf("'relay create --authorized' is not supported by ockamtop's ockam")
	}
	at := a.str("at")
	if at == "" || strings.HasPrefix(at, "/project/") {
		return &cmdError{code: exitUnavailable, msg: "'ockam relay create' without --at, or --at /project/..., needs Ockam's hosted service (Orchestrator), which ockamtop does not run: give --at /node/NAME"}
	}
	var node, atNode string
	err := r.change(a.str("to"), func(s *Session, n *Node) error {
		node = n.Name
		target, err := relayNode(s, at)
		if err != nil {
			return err
		}
		atNode = target.Name
		if target.Name == n.Name {
			return failf("The node %s cannot register a relay at itself", n.Name)
		}
		if slices.ContainsFunc(n.Relays, func(rl Relay) bool { return rl.Name == name }) {
			return failf("A relay named %s already exists on the node %s", name, n.Name)
		}
		n.Relays = append(n.Relays, Relay{Name: name, At: target.Name})
		return nil
	})
	if err != nil {
		return err
	}
	status := "up"
	if sess, n, err := r.readNode(node); err == nil {
		for _, rl := range r.nodeInfo(sess, n, true).Relays {
			if rl.Name == name && rl.Status != "" {
				status = rl.Status
			}
		}
	}
	info := relayInfo{Name: name, At: "/node/" + atNode, RemoteAddress: "/service/forward_to_" + name, Status: status}
	if status != "up" {
		// As Ockam says it of a relay whose node is not reachable yet
		// (and has no machine form for it).
		return r.answer(answer{
			plain: warnf("A relay was created at /node/%s but failed to connect to %s", node, atRoute(at)) + infof("It will retry to connect automatically"),
			json:  info,
		})
	}
	return r.answer(answer{
		plain:   okf("Now relaying messages from %s/service/forward_to_%s → /node/%s/service/forward_to_%s", strings.TrimSuffix(atRoute(at), "/"), name, node, name),
		machine: info.RemoteAddress,
		json:    info,
	})
}

// atRoute is --at as the output shows it: a node name is /node/NAME.
func atRoute(at string) string {
	if !strings.HasPrefix(at, "/") {
		return "/node/" + at
	}
	return at
}

// relayNode finds the node --at names: /node/NAME, NAME, or the address
// of its listener.
func relayNode(s *Session, at string) (*Node, error) {
	if !strings.HasPrefix(at, "/") || strings.HasPrefix(at, "/node/") {
		return s.resolveNode(at)
	}
	addr, err := socketAddress(at)
	if err != nil {
		return nil, err
	}
	if n := s.nodeListeningAt(addr); n != nil {
		return n, nil
	}
	return nil, failf("No node of this session listens on %s: ockamtop's relays are registered at nodes of the session", addr)
}

func relayList(r *run, a *args) error {
	s, n, err := r.readNode(a.str("to"))
	if err != nil {
		return err
	}
	info := r.nodeInfo(s, n, true)
	var w strings.Builder
	if len(info.Relays) == 0 {
		w.WriteString(infof("There are no relays on the node %s", n.Name))
	}
	for _, rl := range info.Relays {
		fmt.Fprintf(&w, "│ Relay %s %s\n│ From %s%s to /node/%s\n", rl.Name, rl.Status, rl.At, rl.RemoteAddress, n.Name)
	}
	return r.answer(answer{plain: w.String(), json: nonNil(info.Relays)})
}

func relayShow(r *run, a *args) error {
	s, n, err := r.readNode(a.str("to"))
	if err != nil {
		return err
	}
	for _, rl := range r.nodeInfo(s, n, true).Relays {
		if rl.Name == a.arg(0) {
			return r.answer(answer{
				plain:   fmt.Sprintf("Relay:\n  Name: %s\n  Status: %s\n  Remote Address: %s%s\n  Node: %s\n", rl.Name, rl.Status, rl.At, rl.RemoteAddress, n.Name),
				machine: rl.Name,
				json:    rl,
			})
		}
	}
	return failf("Relay with name %s was not found on the node %s", a.arg(0), n.Name)
}

func relayDelete(r *run, a *args) error {
	name := a.arg(0)
	var node string
	err := r.change(a.str("to"), func(s *Session, n *Node) error {
		node = n.Name
		i := slices.IndexFunc(n.Relays, func(rl Relay) bool { return rl.Name == name })
		if i < 0 {
			return failf("Relay with name %s was not found on the node %s", name, n.Name)
		}
		n.Relays = slices.Delete(n.Relays, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{plain: okf("Relay with name %s on node %s has been deleted", name, node)})
}
