package ockam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// reconcileTimeout bounds how long a command waits for a node to apply a
// change: a relay that waits for its registration takes the longest.
const reconcileTimeout = 30 * time.Second

// change changes node at's parts with f, under the session's lock: the
// session's topology must plan, node at's process (if it runs) applies it
// and the other running nodes learn of it. A change a node cannot apply
// is undone, in the session as in the node.
func (r *run) change(at string, f func(s *Session, n *Node) error) error {
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	n, err := l.s.resolveNode(at)
	if err != nil {
		return err
	}
	before, err := json.Marshal(l.s)
	if err != nil {
		return err
	}
	if err := f(l.s, n); err != nil {
		return err
	}
	return r.commit(l, n.Name, before)
}

// commit plans and saves the changed session, and has node name (if it
// runs) apply it. before is the session as it was, restored if node name
// cannot apply the change. The other nodes need a change of a node's
// parts only for the routes they walk themselves, and take the session as
// it is then before each message they send (POST /message): telling each
// of them of each change would make every command cost as many plans as
// the session has nodes. Nor are they told of a node created or deleted:
// what they need of it, to dial it for a message from the network, they
// read from the session when they dial (peers).
//
// A change may let an inlet that waits for its outlet join the topology,
// or take away the outlet (or the relay) that a started inlet's route
// needs, which then waits (settleInlets): the inlet's node applies the
// session too, after node name.
func (r *run) commit(l *locked, name string, before []byte) error {
	if _, err := l.s.plan(r.home); err != nil && !l.s.inletsWait(r.home) {
		return err
	}
	joined, waits := l.s.settleInlets(r.home)
	for _, w := range waits {
		fmt.Fprintf(r.Stderr, "  ! The TCP Inlet %s of the node %s now waits for its outlet: %s\n", w.alias, w.node, w.why)
		joined = append(joined, w.node)
	}
	if err := l.save(); err != nil {
		return err
	}
	if n := l.s.node(name); n != nil && r.running(n) {
		if err := r.reconcile(n); err != nil {
			var old Session
			if json.Unmarshal(before, &old) == nil {
				l.s = &old
				_ = l.save()
			}
			return err
		}
	}
	for i, other := range joined {
		if n := l.s.node(other); other != name && !slices.Contains(joined[:i], other) && n != nil && r.running(n) {
			if err := r.reconcile(n); err != nil {
				fmt.Fprintf(r.Stderr, "  ! node %s could not start an inlet that waited for its outlet: %v\n", n.Name, err)
			}
		}
	}
	return nil
}

// reconcile asks node n's process to run the session file as it is now.
func (r *run) reconcile(n *Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), reconcileTimeout)
	defer cancel()
	var reply reconcileReply
	if err := call(ctx, r.home.socket(n.PID), "POST", "/reconcile", nil, &reply); err != nil {
		return failf("node %s does not answer: %v", n.Name, err)
	}
	if reply.Error != "" {
		return failf("%s", reply.Error)
	}
	return nil
}

// reconcileNodes has the running nodes of names apply the session, at
// once: the nodes whose parts a node delete removed.
func (r *run) reconcileNodes(s *Session, names []string) {
	var wg sync.WaitGroup
	for _, n := range s.Nodes {
		if !slices.Contains(names, n.Name) || !r.running(n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.reconcile(n); err != nil {
				fmt.Fprintf(r.Stderr, "  ! node %s did not take the change: %v\n", n.Name, err)
			}
		}()
	}
	wg.Wait()
}

// resolveNode finds the node a command's --at, --from or --to names:
// NAME or /node/NAME; "" is the default node.
func (s *Session) resolveNode(name string) (*Node, error) {
	name = nodeName(name)
	if name == "" {
		if s.Default == "" {
			return nil, failf("There is no default node: create one with 'ockam node create', or name one with --at")
		}
		name = s.Default
	}
	n := s.node(name)
	if n == nil {
		return nil, failf("Node %s was not found", name)
	}
	return n, nil
}

// nodeName is an address's value, as Ockam's extract_address_value takes
// it: /node/n1 is n1.
func nodeName(s string) string {
	if rest, ok := strings.CutPrefix(s, "/node/"); ok {
		return rest
	}
	return s
}

// serviceName is an address's value: /service/outlet is outlet.
func serviceName(s string) string {
	for _, p := range []string{"/service/", "/worker/"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest
		}
	}
	return s
}

// route turns a route given to a command of node from into one of the
// session's topology: a leading /worker/HEX that names one of from's
// connections (tcp-connection create) or secure channels (secure-channel
// create) becomes that connection's /node/NAME (or /ip4/A/tcp/P) or that
// channel's route. (A leading "-" was replaced by standard input already:
// see stdinRoute.)
func (r *run) route(s *Session, from *Node, to string) (string, error) {
	if !strings.HasPrefix(to, "/") {
		return "", usagef("invalid value '%s' for a route: a route is a MultiAddr such as /node/n1/service/echo", to)
	}
	if from == nil {
		return to, nil
	}
	for {
		rest, ok := strings.CutPrefix(to, "/worker/")
		if !ok {
			rest, ok = strings.CutPrefix(to, "/service/")
		}
		if !ok {
			break
		}
		worker, tail, _ := strings.Cut(rest, "/")
		if tail != "" {
			tail = "/" + tail
		}
		replaced := false
		for _, c := range from.Connections {
			if c.Worker == worker {
				to, replaced = c.route()+tail, true
			}
		}
		for _, ch := range from.Channels {
			if ch.Worker == worker {
				to, replaced = ch.Route+tail, true
			}
		}
		if !replaced {
			break
		}
	}
	return to, nil
}

// route is where a connection goes, as a route of the topology.
func (c Connection) route() string {
	if c.Node != "" && !c.Other {
		return "/node/" + c.Node
	}
	host, port, err := net.SplitHostPort(c.To)
	if err != nil {
		return "/ip4/" + c.To
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		return "/ip4/" + host + "/tcp/" + port
	}
	if ip := net.ParseIP(host); ip != nil {
		return "/ip6/" + host + "/tcp/" + port
	}
	return "/dnsaddr/" + host + "/tcp/" + port
}

// socketAddress reads a socket address as Ockam's hostname_parser does: a
// bare port is on 127.0.0.1, and /ip4/A/tcp/P is A:P.
func socketAddress(s string) (string, error) {
	if _, err := strconv.Atoi(s); err == nil {
		return "127.0.0.1:" + s, nil
	}
	if strings.HasPrefix(s, "/") {
		parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
		if len(parts) == 4 && (parts[0] == "ip4" || parts[0] == "ip6" || parts[0] == "dnsaddr") && parts[2] == "tcp" {
			return net.JoinHostPort(parts[1], parts[3]), nil
		}
		return "", usagef("invalid value '%s': not a socket address (HOST:PORT, a port, or /ip4/A/tcp/P)", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", usagef("invalid value '%s': not a socket address (HOST:PORT, a port, or /ip4/A/tcp/P)", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", usagef("invalid value '%s': the port must be a number from 0 to 65535", s)
	}
	return s, nil
}

// randomHex is a fresh worker address: 16 random bytes in hex, as Ockam
// names its workers.
func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stdinRoute replaces a route's leading "-" by standard input, trimmed, as
// Ockam's pipes give it (`ockam secure-channel create ... | ockam
// tcp-inlet create --to -/service/outlet`). It runs before the command
// reads or locks the session: the command before it in the pipe may be
// changing it.
func (r *run) stdinRoute(to string) (string, error) {
	rest, ok := strings.CutPrefix(to, "-")
	if !ok || rest != "" && !strings.HasPrefix(rest, "/") {
		return to, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Stdin, 64<<10))
	if err != nil {
		return "", failf("read the route's start from standard input: %v", err)
	}
	prefix := strings.TrimSpace(string(b))
	if prefix == "" {
		return "", usagef("the route %s starts with '-', and standard input is empty", to)
	}
	return prefix + rest, nil
}
