package ockam

import (
	"fmt"
	"strings"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// An inlet whose outlet does not exist yet. Ockam creates it and keeps
// trying to reach the outlet; the session's topology cannot hold it, since
// the planner proves an inlet's route by walking it to a tcp_outlet. So
// such an inlet stays in the session, waiting (Inlet.Waiting, the
// planner's reason), and out of the topology (Session.HCL names it in a
// comment): its port is the session's, and its node does not listen on
// it yet. Each change of the session tries the waiting inlets again
// (settleInlets): one whose route walks now (its outlet created, the relay
// its route takes registered) joins the topology, and its node starts it.

// inletRouteNodes refuses an inlet's route that names a node the session
// does not have, as Ockam's command does when it reads the route: only
// what the session will have later is waited for.
func inletRouteNodes(s *Session, route string) error {
	m, err := routing.ParseMultiAddr(route)
	if err != nil {
		return usagef("invalid value '%s' for '--to <ROUTE>': %v", route, err)
	}
	for _, seg := range m {
		if seg.Kind == routing.Node && s.node(seg.Name) == nil {
			return failf("Node %s was not found", seg.Name)
		}
	}
	return nil
}

// waitIfUnwalkable marks inlet in of node n waiting if the session's
// topology plans without it but not with it, and returns the planner's
// reason; "" when it plans (or when the session does not plan without it
// either: that error is another's, and the change fails with it).
func (s *Session) waitIfUnwalkable(h home, n *Node, alias string) string {
	in := n.inlet(alias)
	if in == nil {
		return ""
	}
	in.Waiting = ""
	_, err := s.plan(h)
	if err == nil {
		return ""
	}
	in.Waiting = "waiting"
	if _, without := s.plan(h); without != nil {
		in.Waiting = ""
		return ""
	}
	in.Waiting = err.Error()
	return in.Waiting
}

// settleInlets tries each waiting inlet again, in the session's order,
// and returns the nodes whose inlets joined the topology.
func (s *Session) settleInlets(h home) []string {
	var joined []string
	for _, n := range s.Nodes {
		for i := range n.Inlets {
			in := &n.Inlets[i]
			if in.Waiting == "" {
				continue
			}
			was := in.Waiting
			in.Waiting = ""
			if _, err := s.plan(h); err != nil {
				in.Waiting = was
				continue
			}
			if len(joined) == 0 || joined[len(joined)-1] != n.Name {
				joined = append(joined, n.Name)
			}
		}
	}
	return joined
}

// inlet finds an inlet of node n by alias.
func (n *Node) inlet(alias string) *Inlet {
	for i := range n.Inlets {
		if n.Inlets[i].Alias == alias {
			return &n.Inlets[i]
		}
	}
	return nil
}

// waitingComment is the comment that stands for a waiting inlet in the
// session's topology file.
func waitingComment(n *Node, in Inlet) string {
	return fmt.Sprintf("\n  # tcp_inlet %q (from %s to %s) is left out: it waits for its outlet.\n  # %s\n",
		in.Alias, in.From, in.To, strings.ReplaceAll(strings.TrimSpace(in.Waiting), "\n", "\n  # "))
}

// waitingNote is what a list says of a waiting inlet.
func waitingNote(in Inlet) string {
	if in.Waiting == "" {
		return ""
	}
	return " (waiting for its outlet)"
}
