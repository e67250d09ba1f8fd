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
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/netns"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/topology"
)

// StartOptions configure Start.
type StartOptions struct {
	// Logger receives the nodes' logs; nil discards them.
	Logger hclog.Logger
	// Progress receives one line per started part ("✔ node n2 listening on
	// 127.0.0.1:7000"); nil discards them.
	Progress func(line string)
	// Node is the base options of every node (timeouts, mailbox size).
	Node runtime.Options
	// Relay configures the relays.
	Relay runtime.RelayOptions
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
}

// Running is a started topology.
type Running struct {
	topo     *topology.Topology
	local    map[string]bool
	opts     StartOptions
	progress func(string)

	// reconciling serializes Reconcile (reconcile.go).
	reconciling sync.Mutex

	mu        sync.Mutex
	nodes     map[string]*runtime.Node // guarded by mu; the nodes run here
	listeners map[string]string        // guarded by mu; node -> listener address, bound port for local nodes
	// udpListeners is listeners for the nodes' UDP listeners.
	udpListeners map[string]string // guarded by mu
	relays       []*runningRelay   // guarded by mu
	inlets       []*runningInlet   // guarded by mu
	outlets      []*runningOutlet  // guarded by mu
	execs        []*runningExec    // guarded by mu
	checks       []CheckResult     // guarded by mu; the last RunChecks
	stopped      bool              // guarded by mu
	// identities are the nodes' identities, by node; guarded by mu.
	identities map[string]*secure.Identity

	// iso is the namespaces of the isolated nodes; nil without networks.
	// Set by Start before any node, closed by Stop after them.
	iso *isolation
	// execsDone tells of an exec's process that exited on its own; execWG
	// joins the goroutines that wait for the processes.
	execsDone chan *ExecExit
	execWG    sync.WaitGroup

	// listening are the listeners of the nodes run here; guarded by mu.
	listening map[string]*runtime.Listener
}

// runningRelay is a started relay and the node it belongs to.
type runningRelay struct {
	node  string
	relay *runtime.Relay
}

// runningInlet is a started inlet, the node it is on and its route.
type runningInlet struct {
	node  string
	route string
	inlet *runtime.Inlet
}

// runningOutlet is a started outlet and the node it is on.
type runningOutlet struct {
	node   string
	outlet *runtime.Outlet
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
		nodes:        map[string]*runtime.Node{},
		listeners:    map[string]string{},
		identities:   map[string]*secure.Identity{},
		udpListeners: map[string]string{},
		execsDone:    make(chan *ExecExit, 1),
		listening:    map[string]*runtime.Listener{},
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
		if n.Listener != "" {
			r.listeners[n.Name] = n.Listener
		}
		if n.UDPListener != "" {
			r.udpListeners[n.Name] = n.UDPListener
		}
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
// need them: services, the listener, relays, outlets, inlets.
func (r *Running) startNode(ctx context.Context, tn *topology.Node) error {
	n, err := r.newNode(tn)
	if err != nil {
		return err
	}
	steps := []func(context.Context, *runtime.Node, *topology.Node) error{
		r.startServices, r.startSecureListeners, r.startListener, r.startUDPListener, r.startRelays, r.startOutlets, r.startInlets, r.startExecs,
	}
	for _, step := range steps {
		if err := step(ctx, n, tn); err != nil {
			return err
		}
	}
	return nil
}

// newNode creates a node of the file, with its allowed addresses, and
// records it. The default services run at once.
func (r *Running) newNode(tn *topology.Node) (*runtime.Node, error) {
	opts := r.opts.Node
	opts.Logger = r.opts.Logger
	opts.MayDial = r.mayDial
	id, err := r.identityOf(tn.Name)
	if err != nil {
		return nil, startError("identity", tn, tn.Decl.DeclRange, err)
	}
	opts.Identity = id
	opts.MayDialUDP = r.mayDialUDP
	opts.Sockets = r.iso.sockets(tn.Name)
	n := runtime.NewNode(tn.Name, opts)
	r.mu.Lock()
	if r.stopped { // a reconcile that met a Stop
		r.mu.Unlock()
		n.Close()
		return nil, &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: tn.Decl.DeclRange.String(), Err: runtime.ErrNodeClosed}
	}
	r.nodes[tn.Name] = n
	r.mu.Unlock()
	for _, a := range tn.Allow {
		n.Allow(a)
	}
	return n, nil
}

// startServices starts the services the file declares; the default ones
// run already.
func (r *Running) startServices(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	for _, name := range slices.Sorted(maps.Keys(tn.Services)) {
		if n.HasWorker(name) {
			continue // a default service
		}
		if err := r.startService(n, tn, name); err != nil {
			return err
		}
	}
	return nil
}

// startService starts one service the file declares.
func (r *Running) startService(n *runtime.Node, tn *topology.Node, name string) error {
	w, err := runtime.NewService(routing.ServiceType(tn.Services[name]))
	if err == nil {
		err = n.StartService(name, w)
	}
	if err != nil {
		return startError(fmt.Sprintf("service %q", name), tn, tn.Decl.DeclRange, err)
	}
	return nil
}

// startListener binds the node's listener, and makes its real port known
// to whoever references the node.
func (r *Running) startListener(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	if tn.Listener == "" {
		if tn.UDPListener == "" {
			r.progress(fmt.Sprintf("✔ node %s", tn.Name))
		}
		return nil
	}
	return r.startListenerOn(n, tn, nil)
}

// startListenerOn starts the node's listener on ln, a socket bound for it
// already, or when ln is nil on a socket it binds.
func (r *Running) startListenerOn(n *runtime.Node, tn *topology.Node, ln net.Listener) error {
	var l *runtime.Listener
	var err error
	if ln != nil {
		l, err = n.ListenOn(ln)
	} else {
		l, err = n.Listen(tn.Listener)
	}
	if err != nil {
		return &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: tn.Decl.TCPListener.Range.String(), Err: err}
	}
	r.mu.Lock()
	r.listeners[tn.Name] = l.Addr()
	r.listening[tn.Name] = l
	r.mu.Unlock()
	r.progress(fmt.Sprintf("✔ node %s listening on %s", tn.Name, l.Addr()))
	return nil
}

// startUDPListener binds the node's UDP listener, and makes its real port
// known to whoever references the node.
func (r *Running) startUDPListener(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	if tn.UDPListener == "" {
		return nil
	}
	l, err := n.ListenUDP(tn.UDPListener)
	if err != nil {
		return &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: tn.Decl.UDPListener.Range.String(), Err: err}
	}
	r.mu.Lock()
	r.udpListeners[tn.Name] = l.Addr()
	r.mu.Unlock()
	r.progress(fmt.Sprintf("✔ node %s listening on udp %s", tn.Name, l.Addr()))
	return nil
}

// startRelays registers the node's relays, each waiting for its first
// registration.
func (r *Running) startRelays(ctx context.Context, n *runtime.Node, tn *topology.Node) error {
	for _, tr := range tn.Relays {
		if err := r.startRelay(ctx, n, tn, tr); err != nil {
			return err
		}
	}
	return nil
}

// startRelay registers one relay and waits for its first registration.
func (r *Running) startRelay(ctx context.Context, n *runtime.Node, tn *topology.Node, tr *topology.Relay) error {
	opts := r.opts.Relay
	opts.AtNode = tr.At.Name
	at, err := r.addressFrom(tn.Name, tr.At.Name)
	var rel *runtime.Relay
	if err == nil {
		rel, err = n.StartRelay(tr.Name, at, opts)
	}
	if err != nil {
		return startError(fmt.Sprintf("relay %q", tr.Name), tn, tr.Decl.DeclRange, err)
	}
	r.mu.Lock()
	r.relays = append(r.relays, &runningRelay{node: tn.Name, relay: rel})
	r.mu.Unlock()
	if err := r.waitRelay(ctx, tr, rel); err != nil {
		return startError(fmt.Sprintf("relay %q", tr.Name), tn, tr.Decl.DeclRange, err)
	}
	return nil
}

// waitRelay waits for a relay's first registration. A relay at a node run
// elsewhere may come later: it keeps trying, and Start goes on.
func (r *Running) waitRelay(ctx context.Context, tr *topology.Relay, rel *runtime.Relay) error {
	wait := time.NewTimer(r.opts.RelayWait)
	defer wait.Stop()
	select {
	case <-rel.Ready():
		r.progress(fmt.Sprintf("✔ relay %s at %s: %s", tr.Name, tr.At.Name, tr.RemoteAddress()))
		return nil
	case <-wait.C:
		st := rel.Status()
		if r.isLocal(tr.At.Name) {
			return fmt.Errorf("no registration at node %s within %s: %s", tr.At.Name, r.opts.RelayWait, st.LastError)
		}
		r.progress(fmt.Sprintf("… relay %s at %s: not up yet (%s), retrying", tr.Name, tr.At.Name, st.LastError))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startOutlets starts the node's portal outlets.
func (r *Running) startOutlets(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	for _, name := range slices.Sorted(maps.Keys(tn.Outlets)) {
		if err := r.startOutlet(n, tn.Outlets[name]); err != nil {
			return err
		}
	}
	return nil
}

// startOutlet starts one outlet.
func (r *Running) startOutlet(n *runtime.Node, to *topology.Outlet) error {
	o, err := n.StartOutlet(to.Name, to.Target, runtime.OutletOptions{})
	if err != nil {
		return startError(fmt.Sprintf("tcp_outlet %q", to.Name), to.Node, to.Decl.DeclRange, err)
	}
	r.mu.Lock()
	r.outlets = append(r.outlets, &runningOutlet{node: to.Node.Name, outlet: o})
	r.mu.Unlock()
	r.progress(fmt.Sprintf("✔ tcp_outlet /service/%s on %s -> %s", to.Name, to.Node.Name, to.Target))
	return nil
}

// startInlets starts the node's portal inlets.
func (r *Running) startInlets(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	for _, ti := range tn.Inlets {
		if err := r.startInletOn(n, ti, nil); err != nil {
			return err
		}
	}
	return nil
}

// inletWindow is the window of an inlet's streams: large when its route is
// TCP between nodes of the file all the way to the outlet, Ockam's
// otherwise (runtime.InletOptions.Window).
func inletWindow(ti *topology.Inlet) int {
	if ti.TCPOnly() {
		return runtime.LargeWindow
	}
	return runtime.PortalWindow
}

// startInletOn starts one inlet on ln, a socket bound for it already, or
// when ln is nil on a socket it binds. The inlet resolves its route for
// every connection, so that it follows a relay node's listener.
func (r *Running) startInletOn(n *runtime.Node, ti *topology.Inlet, ln net.Listener) error {
	route := r.inletRoute(n, ti)
	opts := runtime.InletOptions{MaxStreams: ti.Decl.MaxStreams, Window: inletWindow(ti)}
	var in *runtime.Inlet
	var err error
	if ln != nil {
		in, err = n.StartInletOn(ti.Name, ln, route, opts)
	} else {
		in, err = n.StartInlet(ti.Name, ti.From, route, opts)
	}
	if err != nil {
		return &StartError{Part: fmt.Sprintf("tcp_inlet %q of node %q", ti.Name, ti.Node.Name), Where: ti.Decl.From.Range.String(), Err: err}
	}
	r.mu.Lock()
	r.inlets = append(r.inlets, &runningInlet{node: ti.Node.Name, route: ti.Route.String(), inlet: in})
	r.mu.Unlock()
	r.progress(fmt.Sprintf("✔ tcp_inlet %s on %s listening on %s -> %s", ti.Name, ti.Node.Name, in.Addr(), ti.Route))
	return nil
}

// inletRoute is the route function of an inlet on node n: its route
// resolved anew, from the node each hop is at, through the secure channels
// it names.
func (r *Running) inletRoute(n *runtime.Node, ti *topology.Inlet) func() (routing.Route, error) {
	m, hops := ti.Route, ti.Hops
	return func() (routing.Route, error) { return r.routeFrom(context.Background(), n, m, hops) }
}

// Inlets maps "node.inlet" to each inlet's bound address.
func (r *Running) Inlets() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, in := range r.inlets {
		out[in.node+"."+in.inlet.Name()] = in.inlet.Addr()
	}
	return out
}

func (r *Running) listenerOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listeners[name]
}

// mayDial lets a node dial, for a message from the network, the listeners
// of the file's nodes (an isolated node's at each of its addresses) and
// nothing else.
func (r *Running) mayDial(hostport string) bool {
	r.mu.Lock()
	ok := slices.Contains(slices.Collect(maps.Values(r.listeners)), hostport)
	r.mu.Unlock()
	return ok || r.iso != nil && slices.Contains(r.isolatedListeners(), hostport)
}

// mayDialUDP lets a node send, for a message from the network, to the UDP
// listeners of the file's nodes and nothing else.
func (r *Running) mayDialUDP(hostport string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(slices.Collect(maps.Values(r.udpListeners)), hostport)
}

// UDPListeners maps each node run here to its bound UDP listener address.
func (r *Running) UDPListeners() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for name := range r.nodes {
		if a, ok := r.udpListeners[name]; ok {
			out[name] = a
		}
	}
	return out
}

// resolveNode resolves /node/X, written at node from ("" for the host's
// namespace): X's TCP listener as seen from there, or for /node/X/udp
// its UDP listener.
func (r *Running) resolveNode(from, name string, t routing.TransportType) (routing.Address, error) {
	if t == routing.UDP {
		r.mu.Lock()
		a := r.udpListeners[name]
		r.mu.Unlock()
		if a == "" {
			if r.topology().Node(name) == nil {
				return routing.Address{}, fmt.Errorf("no node %q in the topology", name)
			}
			return routing.Address{}, fmt.Errorf("node %q has no udp_listener", name)
		}
		return routing.UDPAddress(a), nil
	}
	if r.topology().Node(name) == nil {
		return routing.Address{}, fmt.Errorf("no node %q in the topology", name)
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
	return r.nodes[name]
}

// Listeners maps each node run here to its bound listener address.
func (r *Running) Listeners() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for name := range r.nodes {
		if a, ok := r.listeners[name]; ok {
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
func (r *Running) Stop() {
	// A reconcile under way finishes (or is undone) first.
	r.reconciling.Lock()
	defer r.reconciling.Unlock()
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	nodes := slices.Collect(maps.Values(r.nodes))
	execs := r.execs
	r.mu.Unlock()
	// The processes first, while their nodes still carry what they say
	// as they go.
	r.stopExecs(execs)
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
}
