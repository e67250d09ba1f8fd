package runtime

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/topology"
)

// A running topology: the nodes of a plan started in this process, each
// with its own router, listeners and connections. Nodes in one process talk
// to each other only through real sockets.

// StartOptions configure Start.
type StartOptions struct {
	// Nodes names the nodes to run here; empty runs them all.
	Nodes []string
	// Logger receives the nodes' logs; nil discards them.
	Logger hclog.Logger
	// Progress receives one line per started part ("✔ node n2 listening on
	// 127.0.0.1:7000"); nil discards them.
	Progress func(line string)
	// Node is the base options of every node (timeouts, mailbox size).
	Node Options
	// Relay configures the relays.
	Relay RelayOptions
	// RelayWait bounds how long Start waits for a relay's first
	// registration (10s).
	RelayWait time.Duration
}

// Running is a started topology.
type Running struct {
	topo     *topology.Topology
	local    map[string]bool
	log      hclog.Logger
	progress func(string)

	mu        sync.Mutex
	nodes     map[string]*Node  // guarded by mu; the nodes run here
	listeners map[string]string // guarded by mu; node -> listener address, bound port for local nodes
	relays    []*Relay          // guarded by mu
	inlets    []*runningInlet   // guarded by mu
	outlets   []*runningOutlet  // guarded by mu
	stopped   bool              // guarded by mu
}

type runningInlet struct {
	node  string
	route string
	*Inlet
}

type runningOutlet struct {
	node string
	*Outlet
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

// Start starts the nodes of t in plan order. If a part fails to start,
// everything already started is stopped and the error names the part.
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
	r := &Running{
		topo: t, local: local, log: o.Logger, progress: o.Progress,
		nodes:     map[string]*Node{},
		listeners: map[string]string{},
	}
	for _, n := range t.Nodes {
		if n.Listener != "" {
			r.listeners[n.Name] = n.Listener
		}
	}
	for _, tn := range t.Order {
		if !local[tn.Name] {
			continue
		}
		if err := r.startNode(ctx, tn, o); err != nil {
			r.Stop()
			return nil, err
		}
	}
	return r, nil
}

func (r *Running) startNode(ctx context.Context, tn *topology.Node, o StartOptions) error {
	fail := func(part string, rng fmt.Stringer, err error) error {
		return &StartError{Part: part, Where: rng.String(), Err: err}
	}
	opts := o.Node
	opts.Logger = o.Logger
	opts.MayDial = r.mayDial
	n := NewNode(tn.Name, opts)
	r.mu.Lock()
	r.nodes[tn.Name] = n
	r.mu.Unlock()

	for _, a := range tn.Allow {
		n.Allow(a)
	}
	names := make([]string, 0, len(tn.Services))
	for name := range tn.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n.HasWorker(name) {
			continue // a default service
		}
		w, err := NewService(routing.ServiceType(tn.Services[name]))
		if err != nil {
			return fail(fmt.Sprintf("service %q of node %q", name, tn.Name), tn.Decl.DeclRange, err)
		}
		if err := n.StartService(name, w); err != nil {
			return fail(fmt.Sprintf("service %q of node %q", name, tn.Name), tn.Decl.DeclRange, err)
		}
	}
	if tn.Listener != "" {
		l, err := n.Listen(tn.Listener)
		if err != nil {
			return fail(fmt.Sprintf("node %q", tn.Name), tn.Decl.TCPListener.Range, err)
		}
		r.mu.Lock()
		r.listeners[tn.Name] = l.Addr()
		r.mu.Unlock()
		r.progress(fmt.Sprintf("✔ node %s listening on %s", tn.Name, l.Addr()))
	} else {
		r.progress(fmt.Sprintf("✔ node %s", tn.Name))
	}
	for _, tr := range tn.Relays {
		at := r.listenerOf(tr.At.Name)
		rel, err := n.startRelay(tr.Name, at, tr.At.Name, o.Relay)
		if err != nil {
			return fail(fmt.Sprintf("relay %q of node %q", tr.Name, tn.Name), tr.Decl.DeclRange, err)
		}
		r.mu.Lock()
		r.relays = append(r.relays, rel)
		r.mu.Unlock()
		wait := time.NewTimer(o.RelayWait)
		select {
		case <-rel.Ready():
			wait.Stop()
			r.progress(fmt.Sprintf("✔ relay %s at %s: %s", tr.Name, tr.At.Name, tr.RemoteAddress()))
		case <-wait.C:
			st := rel.Status()
			if r.local[tr.At.Name] {
				return fail(fmt.Sprintf("relay %q of node %q", tr.Name, tn.Name), tr.Decl.DeclRange,
					fmt.Errorf("no registration at node %s within %s: %s", tr.At.Name, o.RelayWait, st.LastError))
			}
			// The relay node runs elsewhere and may come later: the relay
			// keeps trying.
			r.progress(fmt.Sprintf("… relay %s at %s: not up yet (%s), retrying", tr.Name, tr.At.Name, st.LastError))
		case <-ctx.Done():
			wait.Stop()
			return fail(fmt.Sprintf("relay %q of node %q", tr.Name, tn.Name), tr.Decl.DeclRange, ctx.Err())
		}
	}
	for _, name := range sortedKeys(tn.Outlets) {
		to := tn.Outlets[name]
		o, err := n.StartOutlet(name, to.Target, OutletOptions{})
		if err != nil {
			return fail(fmt.Sprintf("tcp_outlet %q of node %q", name, tn.Name), to.Decl.DeclRange, err)
		}
		r.mu.Lock()
		r.outlets = append(r.outlets, &runningOutlet{node: tn.Name, Outlet: o})
		r.mu.Unlock()
		r.progress(fmt.Sprintf("✔ tcp_outlet /service/%s on %s -> %s", name, tn.Name, to.Target))
	}
	for _, ti := range tn.Inlets {
		m := ti.Route
		route := func() (routing.Route, error) { return m.Route(r.resolveNode) }
		in, err := n.StartInlet(ti.Name, ti.From, route, InletOptions{})
		if err != nil {
			return fail(fmt.Sprintf("tcp_inlet %q of node %q", ti.Name, tn.Name), ti.Decl.From.Range, err)
		}
		r.mu.Lock()
		r.inlets = append(r.inlets, &runningInlet{node: tn.Name, route: m.String(), Inlet: in})
		r.mu.Unlock()
		r.progress(fmt.Sprintf("✔ tcp_inlet %s on %s listening on %s -> %s", ti.Name, tn.Name, in.Addr(), m))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Inlets maps "node.inlet" to each inlet's bound address.
func (r *Running) Inlets() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, in := range r.inlets {
		out[in.node+"."+in.name] = in.Addr()
	}
	return out
}

func (r *Running) listenerOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listeners[name]
}

// mayDial lets a node dial, for a message from the network, the listeners
// of the file's nodes and nothing else.
func (r *Running) mayDial(hostport string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.listeners {
		if a == hostport {
			return true
		}
	}
	return false
}

// resolveNode is the NodeResolver of routes: /node/X is X's listener.
func (r *Running) resolveNode(name string) (routing.Address, error) {
	a := r.listenerOf(name)
	if a == "" {
		if r.topo.Node(name) == nil {
			return routing.Address{}, fmt.Errorf("no node %q in the topology", name)
		}
		return routing.Address{}, fmt.Errorf("node %q does not listen", name)
	}
	return routing.TCPAddress(a), nil
}

// Node returns the node called name if it runs here.
func (r *Running) Node(name string) *Node {
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
// is sent from the first node run here.
func (r *Running) Send(ctx context.Context, from, to string, payload []byte) ([]byte, error) {
	m, err := routing.ParseMultiAddr(to)
	if err != nil {
		return nil, err
	}
	if from == "" {
		if len(m) > 1 && m[0].Kind == routing.Node && r.Node(m[0].Name) != nil {
			from, m = m[0].Name, m[1:]
		} else {
			for _, tn := range r.topo.Order {
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
	route, err := m.Route(r.resolveNode)
	if err != nil {
		return nil, err
	}
	return n.SendAndReceive(ctx, route, payload)
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Reply string `json:"reply,omitempty"`
	Error string `json:"error,omitempty"`
}

// RunChecks runs the file's checks whose node runs here, in file order.
func (r *Running) RunChecks(ctx context.Context) []CheckResult {
	var out []CheckResult
	for _, c := range r.topo.Checks {
		if r.Node(c.From.Name) == nil {
			continue
		}
		res := CheckResult{Name: c.Name}
		cctx, cancel := context.WithTimeout(ctx, c.Decl.Timeout)
		reply, err := r.Send(cctx, c.From.Name, c.Route.String(), wire.EncodeString(c.Send))
		cancel()
		if err == nil {
			res.Reply, err = wire.String(reply)
		}
		switch {
		case err != nil:
			res.Error = err.Error()
		case c.HasExpect && res.Reply != c.Expect:
			res.Error = fmt.Sprintf("got %q, want %q", res.Reply, c.Expect)
		default:
			res.OK = true
		}
		out = append(out, res)
	}
	return out
}

// Stop stops every node run here and waits for them.
func (r *Running) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	relays := r.relays
	nodes := make([]*Node, 0, len(r.nodes))
	for _, n := range r.nodes {
		nodes = append(nodes, n)
	}
	r.mu.Unlock()
	for _, rel := range relays {
		rel.Close()
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Close()
		}()
	}
	wg.Wait()
}
