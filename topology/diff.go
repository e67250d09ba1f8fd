package topology

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The difference between two plans of one topology, as Terraform shows
// it before it applies anything: the running topology (old) against the
// file as it is now (new). A topology is made of parts; each part of
// either plan gets one Change:
//
//   - add: only the new plan has it; remove: only the old one has it;
//   - change: both have it and its definition differs, with a reason per
//     attribute (`to "/a" -> "/b"`). A change is made in place when its
//     kind takes every attribute that changed in place (Kind.InPlace: an
//     inlet's route, an outlet's target, a node's allow list: the part
//     keeps its socket and its open streams), or else by replacing the
//     part (stop the old, start the new);
//   - a dependant of a replaced part is replaced too, though its own
//     definition is the same, and says so (Because): a node's parts when
//     the node is replaced, a relay when its relay node's listener moves,
//     a secure channel listener when a node it trusts is replaced;
//   - unchanged: everything else, which keeps running untouched.
//
// Changes are listed in plan order: the new start order of the nodes, each
// node's parts in the order they start (Kinds: services, secure channel
// listeners, listeners, relays, outlets, inlets, processes), then the
// removed nodes, then the checks and the networks.

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
	// Node is the node the part belongs to; "" for a node itself, a
	// check or a network.
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
	// Old and New are the part in the old plan and in the new one; nil
	// for a part the plan adds, or removes.
	Old *Part `json:"-"`
	New *Part `json:"-"`
}

// Label names the part for people: "tcp_inlet web on n1".
func (c Change) Label() string { return KindOf(c.Kind).Label(c.Node, c.Name) }

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
// new. Both are valid plans. Each part of either is compared by its kind
// (Kinds): attribute by attribute, as the file decoded them.
func Compare(old, new *Topology) *Diff {
	var changes []Change
	for _, nn := range new.Order {
		var op []Part
		if on := old.Node(nn.Name); on != nil {
			op = on.Parts()
		}
		changes = append(changes, compareParts(op, nn.Parts())...)
	}
	for _, on := range old.Order {
		if new.Node(on.Name) == nil {
			changes = append(changes, compareParts(on.Parts(), nil)...)
		}
	}
	for _, k := range Kinds {
		if k.ofTopology != nil {
			changes = append(changes, compareParts(k.ofTopology(old), k.ofTopology(new))...)
		}
	}
	replaceDependants(changes, new)
	d := &Diff{Changes: []Change{}}
	for _, c := range changes {
		d.add(c)
	}
	return d
}

// compareParts compares the parts of one node (or the top-level parts)
// in the two plans, kind by kind: each kind's parts in the new plan's
// order, then the ones only the old plan has.
func compareParts(old, new []Part) []Change {
	var out []Change
	for _, k := range Kinds {
		olds := map[string]*Part{}
		for i := range old {
			if old[i].Kind == k.Name {
				olds[old[i].Name] = &old[i]
			}
		}
		for i := range new {
			np := &new[i]
			if np.Kind != k.Name {
				continue
			}
			op := olds[np.Name]
			delete(olds, np.Name)
			out = append(out, k.compare(op, np))
		}
		for i := range old {
			if op := &old[i]; op.Kind == k.Name && olds[op.Name] != nil {
				out = append(out, k.compare(op, nil))
			}
		}
	}
	return out
}

// compare is the change of one part; op or np is nil for a part only one
// plan has.
func (k *Kind) compare(op, np *Part) Change {
	either := np
	if either == nil {
		either = op
	}
	c := Change{Kind: k.Name, Name: either.Name, Node: either.Node, Where: either.Where.String(), Old: op, New: np}
	if k.Name == PartNode {
		c.Node = ""
	}
	switch {
	case op == nil:
		c.Action = ActionAdd
		for _, a := range k.attributes(*np) {
			if !a.derived && a.Value != "null" && a.Value != "0" {
				c.Reasons = append(c.Reasons, reason(a.Name, a.Value))
			}
		}
	case np == nil:
		c.Action = ActionRemove
	default:
		c.Action = ActionUnchanged
		olds := map[string]string{}
		for _, a := range k.attributes(*op) {
			olds[a.Name] = a.Value
		}
		// What the planner derived is said only when nothing the file
		// declares changed: it follows from that otherwise.
		var declared, derived []string
		for _, a := range k.attributes(*np) {
			was, ok := olds[a.Name]
			if !ok {
				was = "null"
			}
			if was == a.Value {
				continue
			}
			c.Action = ActionChange
			if a.derived {
				derived = append(derived, reason(a.Name, was+" -> "+a.Value))
			} else {
				declared = append(declared, reason(a.Name, was+" -> "+a.Value))
			}
			if !slices.Contains(k.InPlace, a.Name) {
				c.Replace = true
			}
		}
		c.Reasons = declared
		if len(declared) == 0 {
			c.Reasons = derived
		}
	}
	return c
}

// reason is one attribute's part of a change: `to "/a" -> "/b"`, or for a
// listener, which is an attribute itself, the values alone.
func reason(attr, text string) string {
	if attr == "" {
		return text
	}
	return attr + " " + text
}

// replaceDependants replaces the parts that depend on a replaced one
// though their own definition is the same: a node's parts when the node
// is replaced, a relay when its relay node's listener moves, a secure
// channel listener when a node it trusts gets another identity. Each says
// which part it is replaced because of.
func replaceDependants(changes []Change, new *Topology) {
	replaced := map[partKey]string{}
	for more := true; more; {
		more = false
		for i := range changes {
			c := &changes[i]
			if c.Action == ActionChange && c.Replace {
				if _, done := replaced[c.New.key()]; !done {
					replaced[c.New.key()] = c.Label()
					more = true
				}
				continue
			}
			if c.Action != ActionUnchanged && c.Action != ActionChange {
				continue // added or removed
			}
			deps := []partKey{}
			if c.Kind != PartNode && c.New.Node != "" {
				deps = append(deps, partKey{PartNode, c.New.Node, c.New.Node})
			}
			if k := KindOf(c.Kind); k.dependsOn != nil {
				deps = append(deps, k.dependsOn(new, *c.New)...)
			}
			for _, dep := range deps {
				if because, ok := replaced[dep]; ok {
					// A change made in place becomes a replacement.
					c.Action, c.Replace, c.Because = ActionChange, true, because
					more = true
					break
				}
			}
		}
	}
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
