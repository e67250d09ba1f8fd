// Package deploy starts a plan on the node library: the nodes of a
// topology the planner (topology) has validated, run in this process, each
// with its own router, listeners and connections. Nodes in one process talk
// to each other only through real sockets.
//
// The dependency goes one way: deploy uses the planner and the runtime; the
// runtime (the node library) knows nothing of plans.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/netns"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/topology"
)

// StartOptions configure Start.
type StartOptions struct {
	// Logger receives the nodes' logs; nil discards them.
	Logger hclog.Logger
	// Progress receives one line per started part ("✔ node n2 listening on
	// 127.0.0.1:7000"); nil discards them.
	Progress func(line string)
	// Node is the base options of every node (mailbox size, sockets);
	// its transports are TCP and UDP with the options below unless it
	// names others.
	Node runtime.Options
	// TCP and UDP are the base options of every node's transports
	// (timeouts); each node's dial policy is its file's.
	TCP tcp.Options
	UDP udp.Options
	// Relay configures the relays.
	Relay relay.Options
	// RelayWait bounds how long Start waits for a relay's first
	// registration (10s).
	RelayWait time.Duration
	// IdentityDir keeps the identities of the nodes without an identity
	// file, one NAME.identity file each, created on first use; empty makes
	// them anew in memory for each Start.
	IdentityDir string
	// CheckPrivilege says whether this process may make the networks'
	// namespaces (nil: netns.CheckPrivilege); Start asks it first, for a
	// file with networks, and starts nothing if it may not.
	CheckPrivilege func() error
	// ExecStopWait bounds how long stopping an exec's process waits after
	// SIGTERM before SIGKILL (5s).
	ExecStopWait time.Duration
	// ExternalExecs says that the execs run beside this process, started
	// by something else (a pod's other containers on Kubernetes): Start
	// starts none of them and waits for each one's wait_for instead.
	ExternalExecs bool
}

// Running is a started topology.
type Running struct {
	local    map[string]bool
	opts     StartOptions
	progress func(string)

	// reconciling serializes Reconcile (reconcile.go).
	reconciling sync.Mutex

	mu   sync.Mutex
	topo *topology.Topology // guarded by mu; the plan that runs
	// nodes are the nodes of the file, by name: where each listens, and
	// for a node run here, the node and its parts. Guarded by mu.
	nodes   map[string]*runningNode
	checks  []CheckResult // guarded by mu; the last RunChecks
	stopped bool          // guarded by mu

	// iso is the namespaces of the isolated nodes; nil without networks.
	// Set by Start before any node, closed by Stop after them.
	iso *isolation
	// execsDone tells of an exec's process that exited on its own; execWG
	// joins the goroutines that wait for the processes.
	execsDone chan *ExecExit
	execWG    sync.WaitGroup
}

// runningNode is a node of the file as this process knows it. Its fields
// are guarded by Running.mu.
type runningNode struct {
	// listener and udpListener are where the node listens, "" where it
	// does not: the bound addresses for a node run here, the file's for
	// a node run elsewhere.
	listener, udpListener string
	// identity is the identity made or kept for a node without an
	// identity file, once it is asked for.
	identity *secure.Identity
	// node is the node, for a node run here; nil for one run elsewhere.
	node *runtime.Node
	// channels are the node's secure channels, with node.
	channels *securechannel.Channels
	// parts are the node's parts that run, in the order they started.
	parts []*runningPart
}

// runningPart is a part of a node that runs.
type runningPart struct {
	kind topology.PartKind
	name string
	run  partRun
}

// part returns the running part of a kind and name, or nil.
func (rn *runningNode) part(kind topology.PartKind, name string) *runningPart {
	for _, p := range rn.parts {
		if p.kind == kind && p.name == name {
			return p
		}
	}
	return nil
}

// entry returns node name's record, made if the node is new; r.mu is
// held.
func (r *Running) entry(name string) *runningNode {
	rn := r.nodes[name]
	if rn == nil {
		rn = &runningNode{}
		r.nodes[name] = rn
	}
	return rn
}

// StartError is a part of the topology that failed to start.
type StartError struct {
	// Part names it: `node "n2"`, `relay "n3"`.
	Part string
	// Where is its declaration in the file.
	Where string
	Err   error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%s (%s): %v", e.Part, e.Where, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// startError names a part of node tn that failed to start.
func startError(part string, tn *topology.Node, rng fmt.Stringer, err error) error {
	return &StartError{Part: fmt.Sprintf("%s of node %q", part, tn.Name), Where: rng.String(), Err: err}
}

// Start starts the nodes of t that local names, in plan order. If a part
// fails to start, everything already started is stopped and the error names
// the part.
func Start(ctx context.Context, t *topology.Topology, local map[string]bool, o StartOptions) (*Running, error) {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.RelayWait <= 0 {
		o.RelayWait = 10 * time.Second
	}
	if o.CheckPrivilege == nil {
		o.CheckPrivilege = netns.CheckPrivilege
	}
	if o.ExecStopWait <= 0 {
		o.ExecStopWait = 5 * time.Second
	}
	r := &Running{
		topo: t, local: local, opts: o, progress: o.Progress,
		nodes:     map[string]*runningNode{},
		execsDone: make(chan *ExecExit, 1),
	}
	if networks := needsIsolation(t, local); len(networks) > 0 {
		if err := o.CheckPrivilege(); err != nil {
			return nil, &PrivilegeError{Networks: networks, Err: err}
		}
		iso, err := startIsolation(t, local, networks)
		if err != nil {
			return nil, err
		}
		r.iso = iso
		r.progress(fmt.Sprintf("✔ networks %s: %d namespaces", strings.Join(networks, ", "), len(iso.nss)+1))
	}
	for _, n := range t.Nodes {
		r.nodes[n.Name] = &runningNode{listener: n.Listener, udpListener: n.UDPListener}
	}
	for _, tn := range t.Order {
		if !local[tn.Name] {
			continue
		}
		if err := r.startNode(ctx, tn); err != nil {
			r.Stop()
			return nil, err
		}
	}
	return r, nil
}

// startNode starts one node and its parts, in the order their dependants
// need them (topology.Kinds).
func (r *Running) startNode(ctx context.Context, tn *topology.Node) error {
	n, err := r.newNode(tn)
	if err != nil {
		return err
	}
	said := tn.Listener != "" || tn.UDPListener != "" // the listener says it
	for _, p := range tn.Parts()[1:] {
		if !said && listensBefore(p.Kind) {
			r.progress(fmt.Sprintf("✔ node %s", tn.Name))
			said = true
		}
		if err := r.startPart(ctx, n, p, nil); err != nil {
			return err
		}
	}
	if !said {
		r.progress(fmt.Sprintf("✔ node %s", tn.Name))
	}
	return nil
}

// listensBefore reports whether a node's listeners start before parts of
// kind k: a node is up, for people, when it listens.
func listensBefore(k topology.PartKind) bool {
	return slices.IndexFunc(topology.Kinds, func(x *topology.Kind) bool { return x.Name == k }) >
		slices.IndexFunc(topology.Kinds, func(x *topology.Kind) bool { return x.Name == topology.PartUDPListener })
}

// newNode creates a node of the file, with its allowed addresses, and
// records it. The default services run at once.
func (r *Running) newNode(tn *topology.Node) (*runtime.Node, error) {
	opts := r.opts.Node
	opts.Logger = r.opts.Logger
	// A node's identity file is read by the planner; the identity kept
	// for a node without one is read (or made) the first time its secure
	// channels are used, so that a node that uses none costs nothing.
	if id := tn.LoadedIdentity; id != nil && !id.HasSecret() {
		err := fmt.Errorf("its identity file %s holds no secret key: it is node %s's public identity, for other nodes to trust, and cannot run the node", tn.Identity, tn.Name)
		return nil, startError("identity", tn, tn.Decl.DeclRange, err)
	}
	opts.Sockets = r.iso.sockets(tn.Name, opts.Sockets)
	if opts.Transports == nil {
		tcpOpts, udpOpts := r.opts.TCP, r.opts.UDP
		tcpOpts.MayDial, udpOpts.MayDial = r.mayDial, r.mayDialUDP
		opts.Transports = []runtime.NewTransport{tcp.With(tcpOpts), udp.With(udpOpts)}
	}
	n := runtime.NewNode(tn.Name, opts)
	sc := securechannel.New(n, securechannel.Options{
		Identity:     tn.LoadedIdentity,
		IdentityFrom: func() (*secure.Identity, error) { return r.identityOf(tn.Name) },
	})
	r.mu.Lock()
	if r.stopped { // a reconcile that met a Stop
		r.mu.Unlock()
		n.Close()
		return nil, &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: tn.Decl.DeclRange.String(), Err: runtime.ErrNodeClosed}
	}
	rn := r.entry(tn.Name)
	rn.node, rn.channels, rn.parts = n, sc, nil
	r.mu.Unlock()
	for _, a := range tn.Allow {
		n.Allow(a)
	}
	return n, nil
}

// startPart starts one part of node n by its kind's unit, on ln, a socket
// bound for it already, if it binds one; and records it.
func (r *Running) startPart(ctx context.Context, n *runtime.Node, p topology.Part, ln net.Listener) error {
	if n == nil {
		return &StartError{Part: topology.KindOf(p.Kind).Label(p.Node, p.Name), Where: p.Where.String(), Err: errNotRunning}
	}
	u, ok := units[p.Kind]
	if !ok {
		return &StartError{Part: topology.KindOf(p.Kind).Label(p.Node, p.Name), Where: p.Where.String(), Err: fmt.Errorf("no unit runs a %s", p.Kind)}
	}
	run, err := u.start(r, ctx, n, p, ln)
	if run != nil {
		// Recorded even when it failed to come up (a relay whose first
		// registration did not come): it runs, and stops with its node.
		r.mu.Lock()
		rn := r.entry(n.Name())
		rn.parts = append(rn.parts, &runningPart{kind: p.Kind, name: p.Name, run: run})
		r.mu.Unlock()
	}
	return err
}

// stopPart stops a running part of a node run here and forgets it. It
// returns the address the part had bound, "" if it bound none or did not
// run.
func (r *Running) stopPart(node string, kind topology.PartKind, name string) string {
	r.mu.Lock()
	rn := r.nodes[node]
	var found *runningPart
	if rn != nil {
		found = rn.part(kind, name)
		rn.parts = slices.DeleteFunc(rn.parts, func(p *runningPart) bool { return p == found })
	}
	r.mu.Unlock()
	if found == nil {
		return ""
	}
	bound := boundAddr(found.run)
	found.run.stop(r)
	return bound
}

// Inlets maps "node.inlet" to each inlet's bound address.
func (r *Running) Inlets() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for name, rn := range r.nodes {
		for _, p := range rn.parts {
			if in, ok := p.run.(*inletRun); ok {
				out[name+"."+p.name] = in.inlet.Addr()
			}
		}
	}
	return out
}

// UDPInlets maps "node.inlet" to the bound address of every UDP inlet
// run here.
func (r *Running) UDPInlets() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for name, rn := range r.nodes {
		for _, p := range rn.parts {
			if in, ok := p.run.(*udpInletRun); ok {
				out[name+"."+p.name] = in.inlet.Addr()
			}
		}
	}
	return out
}

// boundListener is one of a node's tcp_listeners that runs here: its
// address as the file declares it, and as bound.
type boundListener struct{ declared, bound string }

// tcpListenersBound lists node name's tcp_listeners that run here.
func (r *Running) tcpListenersBound(name string) []boundListener {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []boundListener
	if rn := r.nodes[name]; rn != nil {
		for _, p := range rn.parts {
			if p.kind == topology.PartTCPListeners {
				out = append(out, boundListener{p.name, boundAddr(p.run)})
			}
		}
	}
	return out
}

func (r *Running) listenerOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.nodes[name]; rn != nil {
		return rn.listener
	}
	return ""
}

// mayDial lets a node dial, for a message from the network, the listeners
// of the file's nodes (an isolated node's at each of its addresses) and
// nothing else.
func (r *Running) mayDial(hostport string) bool {
	r.mu.Lock()
	ok := false
	for name, rn := range r.nodes {
		ok = ok || rn.listener == hostport
		if rn.node == nil {
			// A node run elsewhere: its tcp_listeners are the file's.
			if tn := r.topo.Node(name); tn != nil && slices.Contains(tn.TCPListeners, hostport) {
				ok = true
			}
			continue
		}
		for _, p := range rn.parts {
			ok = ok || p.kind == topology.PartTCPListeners && boundAddr(p.run) == hostport
		}
	}
	r.mu.Unlock()
	return ok || r.iso != nil && slices.Contains(r.isolatedListeners(), hostport) || r.engineListener(hostport, false)
}

// engineListener reports whether hostport is a node's listener (its UDP
// listener, with udp) as the nodes dial it on a container engine: the
// node's name and its listener's port.
func (r *Running) engineListener(hostport string, udp bool) bool {
	t := r.topology()
	if !t.Engine {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	n := t.Node(host)
	if n == nil {
		return false
	}
	ls := n.AllTCPListeners()
	if udp {
		ls = []string{n.UDPListener}
	}
	return slices.ContainsFunc(ls, func(l string) bool {
		_, p, err := net.SplitHostPort(l)
		return err == nil && p == port
	})
}

// mayDialUDP lets a node send, for a message from the network, to the UDP
// listeners of the file's nodes and nothing else.
func (r *Running) mayDialUDP(hostport string) bool {
	if r.engineListener(hostport, true) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rn := range r.nodes {
		if rn.udpListener == hostport {
			return true
		}
	}
	return false
}

// resolveNode resolves /node/X, written at node from ("" for the host's
// namespace): X's TCP listener as seen from there, or for /node/X/udp
// its UDP listener.
func (r *Running) resolveNode(from, name string, t routing.TransportType) (routing.Address, error) {
	if r.topology().Node(name) == nil {
		return routing.Address{}, fmt.Errorf("no node %q in the topology", name)
	}
	if t == routing.UDP {
		r.mu.Lock()
		a := ""
		if rn := r.nodes[name]; rn != nil {
			a = rn.udpListener
		}
		r.mu.Unlock()
		if a == "" {
			return routing.Address{}, fmt.Errorf("node %q has no udp_listener", name)
		}
		if t := r.topology(); t.Engine && t.Node(from) != nil {
			path, err := t.Node(from).UDPPathTo(t.Node(name))
			if err != nil {
				return routing.Address{}, err
			}
			if a, err = withPort(path.Address, a); err != nil {
				return routing.Address{}, err
			}
		}
		return routing.UDPAddress(a), nil
	}
	a, err := r.addressFrom(from, name)
	if err != nil {
		return routing.Address{}, err
	}
	if a == "" {
		return routing.Address{}, fmt.Errorf("node %q does not listen", name)
	}
	return routing.TCPAddress(a), nil
}

// Node returns the node called name if it runs here.
func (r *Running) Node(name string) *runtime.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.nodes[name]; rn != nil {
		return rn.node
	}
	return nil
}

// Listeners maps each node run here to its bound listener address.
func (r *Running) Listeners() map[string]string {
	return r.addresses(func(rn *runningNode) string { return rn.listener })
}

// UDPListeners maps each node run here to its bound UDP listener address.
func (r *Running) UDPListeners() map[string]string {
	return r.addresses(func(rn *runningNode) string { return rn.udpListener })
}

// addresses maps each node run here that has one to an address of it.
func (r *Running) addresses(of func(*runningNode) string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for name, rn := range r.nodes {
		if a := of(rn); rn.node != nil && a != "" {
			out[name] = a
		}
	}
	return out
}

// Send sends payload from node from along the MultiAddr to and waits for
// the reply. With from empty, a route that starts /node/X for a node X run
// here is sent from X (as Ockam's CLI asks node X to send it); otherwise it
// is sent from the first node run here. The route is walked by the planner
// first (a *RouteError if it cannot be), and confirmed hop by hop until
// ctx ends (a *HopError names the hop that was not); see route.go.
func (r *Running) Send(ctx context.Context, from, to string, payload []byte) ([]byte, error) {
	m, err := routing.ParseMultiAddr(to)
	if err != nil {
		var me *routing.MultiAddrError
		if errors.As(err, &me) {
			return nil, &RouteError{Route: to, Summary: "Invalid route", Detail: me.Reason + ".", Start: me.Start, End: me.End}
		}
		return nil, err
	}
	if from == "" {
		if len(m) > 1 && m[0].Kind == routing.Node && r.Node(m[0].Name) != nil {
			from, m = m[0].Name, m[1:]
		} else {
			for _, tn := range r.topology().Order {
				if r.Node(tn.Name) != nil {
					from = tn.Name
					break
				}
			}
		}
	}
	n := r.Node(from)
	if n == nil {
		return nil, fmt.Errorf("node %q does not run here", from)
	}
	offset := 0
	if len(m) > 0 {
		offset = m[0].Start
	}
	hops, err := r.walk(from, to[offset:], to, offset)
	if err != nil {
		return nil, err
	}
	return r.sendConfirmed(ctx, n, m, hops, payload)
}

// Stop stops every node run here and waits for them. Every node is told
// first, so that none logs as a failure a peer that is stopping too.
func (r *Running) Stop() StopSummary {
	start := time.Now()
	// A reconcile under way finishes (or is undone) first.
	r.reconciling.Lock()
	defer r.reconciling.Unlock()
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return StopSummary{}
	}
	r.stopped = true
	var nodes []*runtime.Node
	var execs []*runningExec
	var sum StopSummary
	for _, rn := range r.nodes {
		if rn.node != nil {
			nodes = append(nodes, rn.node)
		}
		for _, p := range rn.parts {
			if e, ok := p.run.(*runningExec); ok {
				execs = append(execs, e)
			}
			if p.kind == topology.PartRelay {
				sum.Relays++
			}
		}
	}
	sum.Nodes = len(nodes)
	r.mu.Unlock()
	// The processes first, while their nodes still carry what they say
	// as they go.
	r.stopExecs(execs)
	r.execWG.Wait()
	defer r.iso.close() // last: the nodes' sockets are in the namespaces
	for _, n := range nodes {
		n.Stopping()
	}
	// Each node stops its relays, after its streams have said Disconnect
	// over them.
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
	sum.Took = time.Since(start)
	if r.opts.Logger != nil {
		r.opts.Logger.Debug("stopped", "nodes", sum.Nodes, "relays", sum.Relays, "took", sum.Took.Round(time.Millisecond))
	}
	return sum
}

// StopSummary says what Stop stopped, and how long it took.
type StopSummary struct {
	Nodes, Relays int
	Took          time.Duration
}

// String reads as "3 nodes, 1 relay in 12ms".
func (s StopSummary) String() string {
	return fmt.Sprintf("%s, %s in %v", count(s.Nodes, "node"), count(s.Relays, "relay"), s.Took.Round(time.Millisecond))
}

// count writes n things, with thousands separated: "10,000 nodes".
func count(n int, thing string) string {
	digits := strconv.Itoa(n)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if n != 1 {
		thing += "s"
	}
	return b.String() + " " + thing
}
