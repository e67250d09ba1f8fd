package ockam

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/topology"
)

// Secure channel listeners and secure channels. Every node runs the
// secure channel listener api, as Ockam's do. `secure-channel create --to
// /node/n2/service/api` names the route /node/n2/secure/api, on which the
// topology opens (or reuses) a channel to n2's listener api; it prints
// /service/HEX, which routes given to the node's commands may start with.

// defaultListener is the secure channel listener every node runs.
const defaultListener = "api"

var listenerFlags = []flagSpec{{name: "at", value: "NODE", help: "the node (default: the default node)"}}

var scListenerCommands = map[string]*command{
	"create": {about: "Create a secure channel listener", pos: "NAME", minPos: 1, maxPos: 1, flags: []flagSpec{
		{name: "at", value: "NODE", help: "the node (default: the default node)"},
		{name: "authorized", value: "IDENTIFIER", help: "only this identifier may open a channel (repeatable as a comma-separated list)"},
		{name: "identity", value: "IDENTITY_NAME", help: "the node's own identity only: a listener speaks for its node"},
		{name: "vault", value: "VAULT_NAME", help: "accepted"},
	}, run: scListenerCreate},
	"list":   {about: "List the secure channel listeners of a node", maxPos: 0, flags: append(slices.Clone(listenerFlags), outputFlag), run: scListenerList},
	"show":   {about: "Show a secure channel listener", pos: "NAME", minPos: 1, maxPos: 1, flags: append(slices.Clone(listenerFlags), outputFlag), run: scListenerShow},
	"delete": {about: "Delete a secure channel listener", pos: "NAME", minPos: 1, maxPos: 1, flags: append(slices.Clone(listenerFlags), flagSpec{name: "yes", short: "y", help: "do not ask"}), run: scListenerDelete},
}

func scListenerCreate(r *run, a *args) error {
	name := serviceName(a.arg(0))
	var authorized []string
	for _, s := range strings.Split(a.str("authorized"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, err := secure.ParseIdentifier(s); err != nil {
				return usagef("invalid value '%s' for '--authorized <IDENTIFIER>': %v", s, err)
			}
			authorized = append(authorized, s)
		}
	}
	var node string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		if id := a.str("identity"); id != "" && id != n.identity() {
			return failf("The node %s uses the identity %s: ockamtop's listeners speak for their node, with its identity", n.Name, n.identity())
		}
		if slices.ContainsFunc(n.SCListeners, func(l SCListener) bool { return l.Name == name }) {
			return failf("A secure channel listener at /service/%s already exists on the node %s", name, n.Name)
		}
		n.SCListeners = append(n.SCListeners, SCListener{Name: name, Authorized: authorized})
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{
		plain:   okf("Secure Channel Listener at /service/%s created successfully on the node %s", name, node),
		machine: "/service/" + name,
		json:    []map[string]string{{"address": "/service/" + name}},
	})
}

func scListenerList(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	var w strings.Builder
	for _, l := range n.SCListeners {
		fmt.Fprintf(&w, "│ Secure Channel Listener at /service/%s\n", l.Name)
	}
	return r.answer(answer{plain: w.String(), json: nonNil(n.SCListeners)})
}

func scListenerShow(r *run, a *args) error {
	_, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	for _, l := range n.SCListeners {
		if l.Name == serviceName(a.arg(0)) {
			who := "anyone"
			if len(l.Authorized) > 0 {
				who = strings.Join(l.Authorized, ", ")
			}
			return r.answer(answer{plain: fmt.Sprintf("Secure Channel Listener:\n  Address: /service/%s\n  Node: %s\n  Authorized: %s\n", l.Name, n.Name, who), json: l})
		}
	}
	return failf("Secure channel listener %s was not found on the node %s", a.arg(0), n.Name)
}

func scListenerDelete(r *run, a *args) error {
	name := serviceName(a.arg(0))
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		i := slices.IndexFunc(n.SCListeners, func(l SCListener) bool { return l.Name == name })
		if i < 0 {
			return failf("Secure channel listener %s was not found on the node %s", name, n.Name)
		}
		n.SCListeners = slices.Delete(n.SCListeners, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{plain: okf("Secure channel listener /service/%s has been deleted", name), machine: "/service/" + name})
}

var channelCommands = map[string]*command{
	"create": {about: "Create a secure channel", maxPos: 0, flags: []flagSpec{
		{name: "from", value: "NODE", help: "the node that opens it (default: the default node)"},
		{name: "to", value: "ROUTE", help: "the route to a secure channel listener, such as /node/n2/service/api"},
		{name: "authorized", value: "IDENTIFIER", help: "refuse the channel unless the listener's node is this identifier"},
		{name: "identity", value: "IDENTITY_NAME", help: "the node's own identity only"},
		{name: "timeout", value: "TIMEOUT", help: "how long to wait for the channel", def: "10s"},
		outputFlag,
	}, run: channelCreate},
	"list":   {about: "List the secure channels of a node", maxPos: 0, flags: []flagSpec{{name: "from", value: "NODE", help: "the node"}, {name: "at", value: "NODE", help: "the node"}, outputFlag}, run: channelList},
	"show":   {about: "Show a secure channel", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "from", value: "NODE", help: "the node"}, {name: "at", value: "NODE", help: "the node"}, outputFlag}, run: channelShow},
	"delete": {about: "Delete a secure channel: close it in its node", pos: "ADDRESS", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "from", value: "NODE", help: "the node"}, {name: "at", value: "NODE", help: "the node"}, {name: "yes", short: "y", help: "do not ask"}}, run: channelDelete},
}

// secureRoute is the topology's route of a channel to the listener at the
// end of to: its last /service/NAME becomes /secure/NAME.
func secureRoute(to string) (string, error) {
	i := strings.LastIndex(to, "/service/")
	if i < 0 || strings.Contains(to[i+len("/service/"):], "/") {
		return "", usagef("invalid value '%s' for '--to <ROUTE>': a route to a secure channel listener ends with /service/NAME", to)
	}
	return to[:i] + "/secure/" + to[i+len("/service/"):], nil
}

func channelCreate(r *run, a *args) error {
	if !a.has("to") {
		return usagef("the following required arguments were not provided: --to <ROUTE>")
	}
	timeout, err := parseTimeout(a.str("timeout"))
	if err != nil {
		return err
	}
	var ch Channel
	var from *Node
	err = r.change(a.str("from"), func(s *Session, n *Node) error {
		from = n
		if id := a.str("identity"); id != "" && id != n.identity() {
			return failf("The node %s uses the identity %s: ockamtop's channels speak for their node, with its identity", n.Name, n.identity())
		}
		to, err := r.route(s, n, a.str("to"))
		if err != nil {
			return err
		}
		sr, err := secureRoute(to)
		if err != nil {
			return err
		}
		// The planner proves the route and its trust: a listener that
		// does not trust the node refuses it here.
		t, err := planHCL("session.hcl", append(s.HCL(r.home.identityDir()), fmt.Appendf(nil, "\ncheck \"secure-channel\" {\n  from = node.%s\n  to   = %s\n  send = \"ping\"\n}\n", n.Name, quote(sr+"/service/echo"))...))
		if err != nil {
			return err
		}
		if want := a.str("authorized"); want != "" {
			if got := listenerIdentifier(t); got != want {
				return failf("The secure channel was refused: the listener's node is %s, not the authorized %s", got, want)
			}
		}
		ch = Channel{Worker: randomHex(), Route: sr}
		n.Channels = append(n.Channels, ch)
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.openChannel(from, ch, timeout); err != nil {
		_ = r.change(from.Name, func(s *Session, n *Node) error {
			n.Channels = slices.DeleteFunc(n.Channels, func(c Channel) bool { return c.Worker == ch.Worker })
			return nil
		})
		return err
	}
	return r.answer(answer{
		plain:   okf("Secure Channel at /service/%s created successfully", ch.Worker) + logf("From /node/%s to %s", from.Name, a.str("to")),
		machine: "/service/" + ch.Worker,
		json:    map[string]string{"address": "/service/" + ch.Worker, "route": ch.Route, "from": from.Name},
	})
}

// openChannel opens the channel now, with an echo through it.
func (r *run) openChannel(from *Node, ch Channel, timeout time.Duration) error {
	if !r.running(from) {
		return failf("Node %s is not running", from.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	var out messageReply
	if err := call(ctx, r.home.socket(from.PID), "POST", "/message", messageRequest{To: ch.Route + "/service/echo", Message: []byte("ping"), Timeout: timeout.String()}, &out); err != nil {
		return failf("node %s does not answer: %v", from.Name, err)
	}
	if out.Error != "" {
		return failf("The secure channel was not created: %s", out.Error)
	}
	return nil
}

// listenerIdentifier is the identifier of the node whose listener the
// planned check's secure hop reaches: the node of the hop after it.
func listenerIdentifier(t *topology.Topology) string {
	for _, c := range t.Checks {
		for i, h := range c.Hops {
			if h.Kind == topology.HopSecure && i+1 < len(c.Hops) {
				if n := t.Node(c.Hops[i+1].Node); n != nil {
					return n.Identifier
				}
			}
		}
	}
	return ""
}

func (r *run) channelNode(a *args) string {
	if a.has("from") {
		return a.str("from")
	}
	return a.str("at")
}

func channelList(r *run, a *args) error {
	_, n, err := r.readNode(r.channelNode(a))
	if err != nil {
		return err
	}
	var w strings.Builder
	for _, c := range n.Channels {
		fmt.Fprintf(&w, "│ Secure Channel /service/%s => %s\n", c.Worker, c.Route)
	}
	return r.answer(answer{plain: w.String(), json: nonNil(n.Channels)})
}

func channelShow(r *run, a *args) error {
	_, n, err := r.readNode(r.channelNode(a))
	if err != nil {
		return err
	}
	for _, c := range n.Channels {
		if c.Worker == serviceName(a.arg(0)) {
			return r.answer(answer{plain: fmt.Sprintf("Secure Channel:\n  Address: /service/%s\n  From: %s\n  Route: %s\n", c.Worker, n.Name, c.Route), json: c})
		}
	}
	return failf("Secure channel %s was not found on the node %s", a.arg(0), n.Name)
}

func channelDelete(r *run, a *args) error {
	worker := serviceName(a.arg(0))
	var gone Channel
	var from *Node
	err := r.change(r.channelNode(a), func(s *Session, n *Node) error {
		i := slices.IndexFunc(n.Channels, func(c Channel) bool { return c.Worker == worker })
		if i < 0 {
			return failf("Secure channel %s was not found on the node %s", a.arg(0), n.Name)
		}
		gone, from = n.Channels[i], n
		n.Channels = slices.Delete(n.Channels, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	if r.running(from) {
		ctx, cancel := context.WithTimeout(context.Background(), reconcileTimeout)
		defer cancel()
		var out channelCloseReply
		if err := call(ctx, r.home.socket(from.PID), "POST", "/channel/close", channelCloseRequest{Route: gone.Route}, &out); err != nil {
			return failf("node %s does not answer: %v", from.Name, err)
		}
		if out.Error != "" {
			return failf("The secure channel /service/%s was forgotten but not closed: %s", worker, out.Error)
		}
	}
	return r.answer(answer{plain: okf("Secure channel /service/%s has been deleted", worker)})
}
