package ockam

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
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

// planErrors plans the session and returns its errors, the planner's
// diagnostics: nil when it plans.
func (s *Session) planErrors(h home) hcl.Diagnostics {
	_, _, diags := topology.LoadFiles([]schema.Source{{Filename: h.sessionFile(), Bytes: s.HCL(h.identityDir())}}, schema.Overrides{})
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}

// notThereYet reports whether every error is a route that ends at what
// is not there yet (an outlet, a relay's forwarder), as the planner's walk
// words it, rather than a file that is wrong (a port clash).
func notThereYet(errs hcl.Diagnostics) bool {
	for _, d := range errs {
		if d.Summary != "Unknown service in route" && d.Summary != "Route does not end at an outlet" {
			return false
		}
	}
	return len(errs) > 0
}

// waitIfUnwalkable marks inlet in of node n waiting if the session's
// topology plans without it but not with it, its route ending at what is
// not there yet, and returns the planner's reason; "" when it plans, or
// when it fails otherwise (the change fails with that error).
func (s *Session) waitIfUnwalkable(h home, n *Node, alias string) string {
	in := n.inlet(alias)
	if in == nil {
		return ""
	}
	in.Waiting = ""
	errs := s.planErrors(h)
	if !notThereYet(errs) {
		return ""
	}
	in.Waiting = "waiting"
	if s.planErrors(h) != nil {
		in.Waiting = ""
		return ""
	}
	in.Waiting = diagnosticText(errs)
	return in.Waiting
}

// demoted marks an inlet that ran before a change and waits after it
// (inletsWait), so that settleInlets can tell of it.
const demoted = "it ran before this change"

// inletsWait is for a change after which the session does not plan: if
// it plans with every inlet waiting, the change took away what an inlet's
// route needs (an outlet, a relay), and the inlets wait, to be tried
// again by settleInlets; true then. Otherwise the inlets are as they
// were: the change fails with its own error.
func (s *Session) inletsWait(h home) bool {
	if !notThereYet(s.planErrors(h)) {
		return false
	}
	var marked []*Inlet
	for _, n := range s.Nodes {
		for i := range n.Inlets {
			if in := &n.Inlets[i]; in.Waiting == "" {
				in.Waiting = demoted
				marked = append(marked, in)
			}
		}
	}
	if s.planErrors(h) != nil || len(marked) == 0 {
		for _, in := range marked {
			in.Waiting = ""
		}
		return false
	}
	return true
}

// waitingInlet is a started inlet that a change made wait.
type waitingInlet struct{ node, alias, why string }

// settleInlets tries each waiting inlet again, in the session's order: it
// returns the nodes whose inlets joined the topology, and the inlets that
// ran before the change (inletsWait) and wait now, with why.
func (s *Session) settleInlets(h home) (joined []string, waits []waitingInlet) {
	for _, n := range s.Nodes {
		for i := range n.Inlets {
			in := &n.Inlets[i]
			if in.Waiting == "" {
				continue
			}
			was := in.Waiting
			in.Waiting = ""
			errs := s.planErrors(h)
			switch {
			case errs == nil && was == demoted:
				// ran before, runs still
			case errs == nil:
				joined = append(joined, n.Name)
			case was == demoted:
				in.Waiting = diagnosticText(errs)
				waits = append(waits, waitingInlet{n.Name, in.Alias, in.Waiting})
			default:
				in.Waiting = diagnosticText(errs)
			}
		}
	}
	return joined, waits
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
