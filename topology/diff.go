package topology

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The difference between two plans of one topology, as Terraform shows
// it before it applies anything: the running topology (old) against the
// file as it is now (new). A topology is made of parts; each part of
// either plan gets one Change:
//
//   - add: only the new plan has it; remove: only the old one has it;
//   - change: both have it and its definition differs, with a reason per
//     attribute (`to "/a" -> "/b"`). A change is made in place (an inlet's
//     route, an outlet's target, a node's allow list: the part keeps its
//     socket and its open streams) or by replacing the part (stop the old,
//     start the new);
//   - a dependant of a changed part is replaced too, though its own
//     definition is the same: a relay dials its relay node's listener, so
//     it is replaced when that listener moves, and says so (Because);
//   - unchanged: everything else, which keeps running untouched.
//
// Changes are listed in plan order: the new start order of the nodes, each
// node's parts in the order they start (listener, services, relays,
// outlets, inlets), then the removed nodes, then the checks.

// PartKind is a kind of part of a topology.
type PartKind string

// The kinds of part, named as the file names their blocks.
const (
	PartNode     PartKind = "node"
	PartListener PartKind = "tcp_listener"
	PartService  PartKind = "service"
	PartRelay    PartKind = "relay"
	PartOutlet   PartKind = "tcp_outlet"
	PartInlet    PartKind = "tcp_inlet"
	PartCheck    PartKind = "check"
)

// Action is what a change does to a part.
type Action string

// The actions, with Terraform's symbols in Symbol.
const (
	ActionAdd       Action = "add"
	ActionChange    Action = "change"
	ActionRemove    Action = "remove"
	ActionUnchanged Action = "unchanged"
)

// Symbol is the action's mark in the text of a diff: + ~ - or a space.
func (a Action) Symbol() string {
	switch a {
	case ActionAdd:
		return "+"
	case ActionChange:
		return "~"
	case ActionRemove:
		return "-"
	}
	return " "
}

// Change is what happens to one part.
type Change struct {
	Kind PartKind `json:"kind"`
	// Name is the part's name: the node's for nodes and listeners.
	Name string `json:"name"`
	// Node is the node the part belongs to; "" for checks.
	Node   string `json:"node,omitempty"`
	Action Action `json:"action"`
	// Reasons say, attribute by attribute, what changed ("to \"/a\" ->
	// \"/b\""), or for an added part what it is.
	Reasons []string `json:"reasons,omitempty"`
	// Replace is set when a change stops the part and starts it again;
	// other changes are made in place.
	Replace bool `json:"replace,omitempty"`
	// Because names the changed part that makes this one a dependant.
	Because string `json:"because,omitempty"`
	// Where is the part's declaration, in the new file (the old one for
	// a removed part).
	Where string `json:"where,omitempty"`
}

// Label names the part for people: "tcp_inlet web on n1".
func (c Change) Label() string {
	switch c.Kind {
	case PartNode:
		return "node " + c.Name
	case PartListener:
		return "tcp_listener of node " + c.Name
	case PartCheck:
		return fmt.Sprintf("check %q", c.Name)
	}
	return fmt.Sprintf("%s %s on %s", c.Kind, c.Name, c.Node)
}

// Diff is the difference between the running topology and a new plan of
// it. It is the JSON of `ockamtop plan --json` against a running apply.
type Diff struct {
	// Changes lists every part, unchanged ones too, in plan order.
	Changes []Change `json:"changes"`
	Add     int      `json:"add"`
	Change  int      `json:"change"`
	Remove  int      `json:"remove"`
}

// HasChanges reports whether applying the diff would do anything.
func (d *Diff) HasChanges() bool { return d.Add+d.Change+d.Remove > 0 }

// Summary is Terraform's last line: "Plan: 1 to add, 1 to change, 0 to
// remove."
func (d *Diff) Summary() string {
	return fmt.Sprintf("Plan: %d to add, %d to change, %d to remove.", d.Add, d.Change, d.Remove)
}

// Lines are the changes for people, one a line, unchanged parts left out:
// `~ tcp_inlet web on n1: to "/a" -> "/b"`.
func (d *Diff) Lines() []string {
	var out []string
	for _, c := range d.Changes {
		if c.Action == ActionUnchanged {
			continue
		}
		line := c.Action.Symbol() + " " + c.Label()
		var notes []string
		notes = append(notes, c.Reasons...)
		if c.Because != "" {
			notes = append(notes, "replaced because "+c.Because+" changed")
		} else if c.Replace {
			notes = append(notes, "replaced")
		}
		if len(notes) > 0 {
			line += ": " + strings.Join(notes, ", ")
		}
		out = append(out, line)
	}
	return out
}

// WriteText writes the diff for people: the changes, indented, then the
// summary; or that there is nothing to change.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	if !d.HasChanges() {
		b.WriteString("No changes: the running topology matches the file.\n")
	} else {
		for _, l := range d.Lines() {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		fmt.Fprintf(&b, "\n%s\n", d.Summary())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Compare returns the difference that turns the running topology old into
// new. Both are valid plans.
func Compare(old, new *Topology) *Diff {
	d := &Diff{Changes: []Change{}}
	// Listeners that move: their nodes' relay clients are dependants.
	moved := map[string]bool{}
	for _, nn := range new.Nodes {
		if on := old.Node(nn.Name); on != nil && on.Listener != "" && nn.Listener != "" && on.Listener != nn.Listener {
			moved[nn.Name] = true
		}
	}
	for _, nn := range new.Order {
		d.compareNode(old.Node(nn.Name), nn, moved)
	}
	for _, on := range old.Order {
		if new.Node(on.Name) == nil {
			d.compareNode(on, nil, moved)
		}
	}
	oldChecks := map[string]*Check{}
	for _, c := range old.Checks {
		oldChecks[c.Name] = c
	}
	for _, nc := range new.Checks {
		oc := oldChecks[nc.Name]
		delete(oldChecks, nc.Name)
		if oc == nil {
			d.add(Change{Kind: PartCheck, Name: nc.Name, Action: ActionAdd, Where: nc.Decl.DeclRange.String(),
				Reasons: []string{fmt.Sprintf("from node.%s, to %q", nc.From.Name, nc.Route.String())}})
			continue
		}
		d.compare(Change{Kind: PartCheck, Name: nc.Name, Where: nc.Decl.DeclRange.String()}, checkReasons(oc, nc), false)
	}
	for _, oc := range old.Checks {
		if _, gone := oldChecks[oc.Name]; gone {
			d.add(Change{Kind: PartCheck, Name: oc.Name, Action: ActionRemove, Where: oc.Decl.DeclRange.String()})
		}
	}
	return d
}

// add appends a change and counts it.
func (d *Diff) add(c Change) {
	switch c.Action {
	case ActionAdd:
		d.Add++
	case ActionChange:
		d.Change++
	case ActionRemove:
		d.Remove++
	}
	d.Changes = append(d.Changes, c)
}

// compare adds a part that both plans have: changed if there are reasons,
// replaced if replace says so.
func (d *Diff) compare(c Change, reasons []string, replace bool) {
	c.Action = ActionUnchanged
	if len(reasons) > 0 {
		c.Action, c.Reasons, c.Replace = ActionChange, reasons, replace
	}
	d.add(c)
}

// compareNode adds the changes of one node and its parts; on or nn is nil
// for a node only one plan has. moved are the nodes whose listener moves.
func (d *Diff) compareNode(on, nn *Node, moved map[string]bool) {
	either := nn
	if either == nil {
		either = on
	}
	name := either.Name
	node := Change{Kind: PartNode, Name: name, Where: either.Decl.DeclRange.String()}
	switch {
	case on == nil:
		node.Action = ActionAdd
		d.add(node)
	case nn == nil:
		node.Action = ActionRemove
		d.add(node)
	default:
		var reasons []string
		if !slices.Equal(on.Allow, nn.Allow) {
			reasons = append(reasons, fmt.Sprintf("allow %s -> %s", quoteList(on.Allow), quoteList(nn.Allow)))
		}
		d.compare(node, reasons, false)
	}

	// The listener.
	listener := func(n *Node) string {
		if n == nil {
			return ""
		}
		return n.Listener
	}
	ol, nl := listener(on), listener(nn)
	lc := Change{Kind: PartListener, Name: name, Node: name}
	switch {
	case ol == "" && nl != "":
		lc.Action, lc.Where, lc.Reasons = ActionAdd, nn.Decl.TCPListener.Range.String(), []string{fmt.Sprintf("%q", nl)}
		d.add(lc)
	case ol != "" && nl == "":
		lc.Action, lc.Where = ActionRemove, on.Decl.TCPListener.Range.String()
		d.add(lc)
	case ol != "":
		lc.Where = nn.Decl.TCPListener.Range.String()
		var reasons []string
		if ol != nl {
			reasons = []string{fmt.Sprintf("%q -> %q", ol, nl)}
		}
		d.compare(lc, reasons, true)
	}

	// Services: the file's own, not the defaults every node runs.
	services := func(n *Node) map[string]string {
		out := map[string]string{}
		if n == nil {
			return out
		}
		for addr, typ := range n.Services {
			if _, def := routing.DefaultServices[addr]; !def {
				out[addr] = typ
			}
		}
		return out
	}
	oldSvc, newSvc := services(on), services(nn)
	serviceWhere := func(n *Node, name string) string {
		for _, s := range n.Decl.Services {
			if s.Name == name {
				return s.DeclRange.String()
			}
		}
		return n.Decl.DeclRange.String()
	}
	for _, s := range slices.Sorted(maps.Keys(mergeKeys(oldSvc, newSvc))) {
		c := Change{Kind: PartService, Name: s, Node: name}
		ot, inOld := oldSvc[s]
		nt, inNew := newSvc[s]
		switch {
		case !inOld:
			c.Action, c.Where, c.Reasons = ActionAdd, serviceWhere(nn, s), []string{"type " + nt}
			d.add(c)
		case !inNew:
			c.Action, c.Where = ActionRemove, serviceWhere(on, s)
			d.add(c)
		default:
			c.Where = serviceWhere(nn, s)
			var reasons []string
			if ot != nt {
				reasons = []string{fmt.Sprintf("type %s -> %s", ot, nt)}
			}
			d.compare(c, reasons, true)
		}
	}

	// Relays, in the new file's order, then the removed ones.
	oldRelays := map[string]*Relay{}
	if on != nil {
		for _, r := range on.Relays {
			oldRelays[r.Name] = r
		}
	}
	if nn != nil {
		for _, r := range nn.Relays {
			c := Change{Kind: PartRelay, Name: r.Name, Node: name, Where: r.Decl.DeclRange.String()}
			or := oldRelays[r.Name]
			delete(oldRelays, r.Name)
			switch {
			case or == nil:
				c.Action, c.Reasons = ActionAdd, []string{"at node." + r.At.Name}
				d.add(c)
			case or.At.Name != r.At.Name:
				d.compare(c, []string{fmt.Sprintf("at node.%s -> node.%s", or.At.Name, r.At.Name)}, true)
			case moved[r.At.Name]:
				c.Action, c.Replace, c.Because = ActionChange, true, "tcp_listener of node "+r.At.Name
				d.add(c)
			default:
				d.compare(c, nil, false)
			}
		}
	}
	if on != nil {
		for _, r := range on.Relays {
			if _, gone := oldRelays[r.Name]; gone {
				d.add(Change{Kind: PartRelay, Name: r.Name, Node: name, Action: ActionRemove, Where: r.Decl.DeclRange.String()})
			}
		}
	}

	// Outlets, by name.
	outlets := func(n *Node) map[string]*Outlet {
		if n == nil {
			return map[string]*Outlet{}
		}
		return n.Outlets
	}
	oo, no := outlets(on), outlets(nn)
	for _, o := range slices.Sorted(maps.Keys(mergeKeys(oo, no))) {
		c := Change{Kind: PartOutlet, Name: o, Node: name}
		switch {
		case oo[o] == nil:
			c.Action, c.Where, c.Reasons = ActionAdd, no[o].Decl.DeclRange.String(), []string{fmt.Sprintf("to %q", no[o].Target)}
			d.add(c)
		case no[o] == nil:
			c.Action, c.Where = ActionRemove, oo[o].Decl.DeclRange.String()
			d.add(c)
		default:
			c.Where = no[o].Decl.DeclRange.String()
			var reasons []string
			if oo[o].Target != no[o].Target {
				reasons = []string{fmt.Sprintf("to %q -> %q", oo[o].Target, no[o].Target)}
			}
			d.compare(c, reasons, false)
		}
	}

	// Inlets, in the new file's order, then the removed ones.
	oldInlets := map[string]*Inlet{}
	if on != nil {
		for _, in := range on.Inlets {
			oldInlets[in.Name] = in
		}
	}
	if nn != nil {
		for _, in := range nn.Inlets {
			c := Change{Kind: PartInlet, Name: in.Name, Node: name, Where: in.Decl.DeclRange.String()}
			oi := oldInlets[in.Name]
			delete(oldInlets, in.Name)
			if oi == nil {
				c.Action, c.Reasons = ActionAdd, []string{fmt.Sprintf("from %q, to %q", in.From, in.Route.String())}
				d.add(c)
				continue
			}
			var reasons []string
			if oi.From != in.From {
				reasons = append(reasons, fmt.Sprintf("from %q -> %q", oi.From, in.From))
			}
			if oi.Route.String() != in.Route.String() {
				reasons = append(reasons, fmt.Sprintf("to %q -> %q", oi.Route.String(), in.Route.String()))
			}
			// A new route alone is taken in place: the inlet keeps its
			// socket and its open streams.
			d.compare(c, reasons, oi.From != in.From)
		}
	}
	if on != nil {
		for _, in := range on.Inlets {
			if _, gone := oldInlets[in.Name]; gone {
				d.add(Change{Kind: PartInlet, Name: in.Name, Node: name, Action: ActionRemove, Where: in.Decl.DeclRange.String()})
			}
		}
	}
}

// checkReasons lists what differs between two versions of a check.
func checkReasons(o, n *Check) []string {
	var out []string
	if o.From.Name != n.From.Name {
		out = append(out, fmt.Sprintf("from node.%s -> node.%s", o.From.Name, n.From.Name))
	}
	if o.Route.String() != n.Route.String() {
		out = append(out, fmt.Sprintf("to %q -> %q", o.Route.String(), n.Route.String()))
	}
	if o.Send != n.Send {
		out = append(out, fmt.Sprintf("send %q -> %q", o.Send, n.Send))
	}
	expect := func(c *Check) string {
		if !c.HasExpect {
			return "(any reply)"
		}
		return fmt.Sprintf("%q", c.Expect)
	}
	if expect(o) != expect(n) {
		out = append(out, fmt.Sprintf("expect %s -> %s", expect(o), expect(n)))
	}
	if o.Decl.Timeout != n.Decl.Timeout {
		out = append(out, fmt.Sprintf("timeout %s -> %s", o.Decl.Timeout, n.Decl.Timeout))
	}
	return out
}

// mergeKeys returns a set of the keys of both maps.
func mergeKeys[V any](a, b map[string]V) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// quoteList shows a list of names as HCL would: ["a", "b"].
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
