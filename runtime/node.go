// Package runtime runs Ockam-style nodes: a router, workers with mailboxes,
// flow control, and the host side of the transports that carry routing
// messages between nodes (the transports themselves are runtime/tcp and
// runtime/udp). Nodes in one process talk to each other only through real
// sockets.
package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Options configure a node. The zero value is usable.
type Options struct {
	// Logger receives the node's logs; nil discards them.
	Logger hclog.Logger
	// MailboxSize is each worker's mailbox capacity (DefaultMailboxSize).
	MailboxSize int
	// Sockets makes the node's listener and the connections it dials;
	// nil is HostSockets, the host's network namespace.
	Sockets Sockets
	// Transports make the node's transports, one each (tcp.New,
	// udp.New, or tcp.With and udp.With for their own options). A node
	// without any routes between its own workers only.
	Transports []NewTransport
}

// Node is one Ockam node: a router with its workers and its transports.
type Node struct {
	name string
	log  hclog.Logger
	opts Options
	// transports are the node's transports; filled by NewNode.
	transports Transports
	// relays is the relay service; set once by NewNode.
	relays *relayService

	closing chan struct{} // closed when Close starts
	// trace is whether the log takes trace lines: then every message
	// routed is logged.
	trace bool
	// stopping is set by Stopping and Close: failures from then on are
	// the shutdown's doing, and are not logged as warnings.
	stopping atomic.Bool
	// ctx is cancelled when Close starts, for work that takes a context.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// runMu orders the workers' goroutines' starts (goWorker) before
	// Close's wait for them: runDone, set by Close once the workers are
	// stopped, refuses more. Apart from mu, which routing reads.
	runMu   sync.Mutex
	runDone bool
	// counters are read by Counters; see counters.go.
	counters nodeCounters

	mu      sync.RWMutex
	workers map[string]*worker // guarded by mu; by local address
	allowed map[string]bool    // guarded by mu; extra consumers of the inbound flow
	closers map[*func()]bool   // guarded by mu; run by Close, for what holds sockets
	closed  bool               // guarded by mu

	// lastClosers are run by Close after closers (AtCloseLast); guarded
	// by mu.
	lastClosers map[*func()]bool
}

// NewNode creates a node named name running the default services echo,
// uppercase and the relay service.
func NewNode(name string, opts Options) *Node {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MailboxSize <= 0 {
		opts.MailboxSize = DefaultMailboxSize
	}
	if opts.Sockets == nil {
		opts.Sockets = HostSockets{}
	}
	n := &Node{
		name:    name,
		log:     opts.Logger.With("node", name),
		opts:    opts,
		closing: make(chan struct{}),
		workers: make(map[string]*worker),
		allowed: make(map[string]bool),
		closers: make(map[*func()]bool),
	}
	n.trace = n.log.IsTrace()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.transports.byType = make(map[routing.TransportType]Transport, len(opts.Transports))
	for _, newTransport := range opts.Transports {
		t := newTransport(&Host{n: n})
		n.transports.byType[t.Type()] = t
	}
	// The default services cannot collide on a new node.
	_ = n.StartService(routing.EchoService, Echo{})
	_ = n.StartService(routing.UppercaseService, Uppercase{})
	n.startRelayService()
	return n
}

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// Logger is the node's logger.
func (n *Node) Logger() hclog.Logger { return n.log }

// StartWorker starts w at the local address name. The worker is private:
// messages from the network reach it only as replies to what it sent.
func (n *Node) StartWorker(name string, w Worker) error {
	_, err := n.startWorker(name, w, false)
	return err
}

// StartService starts w at name as a service: a consumer of the node's
// inbound flow, reachable through its listeners and relays.
func (n *Node) StartService(name string, w Worker) error {
	_, err := n.startWorker(name, w, true)
	return err
}

func (n *Node) startWorker(name string, impl Worker, service bool) (*worker, error) {
	in, ok := impl.(Inliner)
	return n.addWorker(name, impl, service, ok && in.Inline())
}

func (n *Node) addWorker(name string, impl Worker, service, inline bool) (*worker, error) {
	if name == "" {
		return nil, fmt.Errorf("start worker: empty address")
	}
	w := &worker{
		addr:   routing.LocalAddress(name),
		impl:   impl,
		node:   n,
		inline: inline,
	}
	if inline {
		w.ctx = &Context{node: n, w: w, log: n.log} // no With: inline workers are many
	} else {
		w.mailbox = make(chan *Routed, n.opts.MailboxSize)
		w.done = make(chan struct{})
	}
	w.service.Store(service)
	w.startedService = service
	_, w.transport = impl.(Connection)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrNodeClosed
	}
	if _, ok := n.workers[name]; ok {
		return nil, fmt.Errorf("start worker %q on node %s: %w", name, n.name, ErrAddressInUse)
	}
	if n.allowed[name] {
		w.service.Store(true)
	}
	n.workers[name] = w
	return w, nil
}

// goWorker starts a goroutine for w's mailbox (worker.wake), joined by
// Close; false once Close has stopped the workers.
func (n *Node) goWorker(w *worker) bool {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.runDone {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		w.run()
	}()
	return true
}

// Allow makes the local address name a consumer of the node's inbound flow,
// whether or not a worker runs there yet.
func (n *Node) Allow(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.allowed[name] = true
	if w := n.workers[name]; w != nil {
		w.service.Store(true)
	}
}

// Allowed lists the names Allow made consumers of the inbound flow,
// sorted.
func (n *Node) Allowed() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Sorted(maps.Keys(n.allowed))
}

// Disallow undoes Allow: the worker at name, if one runs, is a consumer of
// the inbound flow again only if it was started as a service.
func (n *Node) Disallow(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.allowed, name)
	if w := n.workers[name]; w != nil && !w.startedService {
		w.service.Store(false)
	}
}

// StopWorker stops the worker at name. Messages in its mailbox are dropped.
func (n *Node) StopWorker(name string) error {
	n.mu.Lock()
	w, ok := n.workers[name]
	delete(n.workers, name)
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop worker %q on node %s: %w", name, n.name, ErrNoSuchAddress)
	}
	w.close()
	return nil
}

// Services lists the local addresses of the running services: the workers
// the node's inbound flow reaches, connections aside.
func (n *Node) Services() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []string
	for name, w := range n.workers {
		if w.service.Load() && !w.transport {
			out = append(out, name)
		}
	}
	return out
}

// Stopping tells the node that it and its peers are about to close: what
// fails from then on (a peer resetting a connection) is logged at debug
// level, not as a warning. Close does it too.
func (n *Node) Stopping() { n.stopping.Store(true) }

// Quiet reports whether failures are the shutdown's doing (Stopping was
// called, or Close began): a part running on the node logs them at debug
// level then, not as warnings.
func (n *Node) Quiet() bool { return n.stopping.Load() }

// Context is cancelled when the node closes, after its streams have ended
// and before its transports close: work a part of the node runs with it
// stops with the node.
func (n *Node) Context() context.Context { return n.ctx }

// HasWorker reports whether a worker runs at name.
func (n *Node) HasWorker(name string) bool { return n.lookup(name) != nil }

// Workers lists the local addresses of the running workers.
func (n *Node) Workers() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.workers))
	for name := range n.workers {
		out = append(out, name)
	}
	return out
}

func (n *Node) lookup(name string) *worker {
	n.mu.RLock()
	w := n.workers[name]
	n.mu.RUnlock()
	return w
}

// Send routes a message from local code. It returns an error if the first
// hop cannot take it: an unknown address, a failed dial.
func (n *Node) Send(ctx context.Context, msg routing.Message) error {
	return n.route(ctx, &Routed{Message: msg})
}

// Route routes m, a message a part of the node made with NewRouted (its
// flow, the pooled buffer its payload lives in, the spliced part of a
// large payload): a transport routes what it reads this way, and a part
// sends what it moves. The caller must not use m afterwards, whatever
// Route returns.
func (n *Node) Route(ctx context.Context, m *Routed) error { return n.route(ctx, m) }

// route delivers m to the first address of its onward route: a local
// worker, or for another transport's address the connection to that peer.
func (n *Node) route(ctx context.Context, m *Routed) error {
	err := n.routeTo(ctx, m)
	if err != nil {
		m.dropSplice() // nobody will move it now
	}
	return err
}

func (n *Node) routeTo(ctx context.Context, m *Routed) error {
	next, err := m.Onward.Next()
	if err != nil {
		n.counters.drop(ErrEmptyOnwardRoute)
		return ErrEmptyOnwardRoute
	}
	if !next.IsLocal() {
		if m.Onward, err = n.resolveNext(ctx, m.Onward, m.flow != nil); err != nil {
			n.counters.drop(err)
			return err
		}
		next = m.Onward[0]
	}
	if n.trace {
		n.log.Trace("route", "onward", m.Onward.Brief(), "return", m.Return.Brief(), "bytes", len(m.Payload))
	}
	w := n.lookup(next.Value)
	if w == nil {
		if n.isClosed() {
			n.counters.drop(ErrNodeClosed)
			return ErrNodeClosed
		}
		n.counters.drop(ErrNoSuchAddress)
		return fmt.Errorf("route to %s on node %s: %w", next, n.name, ErrNoSuchAddress)
	}
	if !w.accepts(m.flow) {
		n.counters.drop(ErrFlowDenied)
		return fmt.Errorf("message to %s from connection %s (return route %s): %w", w.addr, m.flow.id, m.Return, ErrFlowDenied)
	}
	if m.sp != nil && !takesSpliced(w.impl, m.Onward) {
		if err := m.Materialize(); err != nil {
			return fmt.Errorf("deliver to %s: %w", w.addr, err)
		}
	}
	if w.inline {
		if w.stopped.Load() {
			n.counters.drop(ErrWorkerStopped)
			return fmt.Errorf("deliver to %s: %w", w.addr, ErrWorkerStopped)
		}
		n.counters.routed.Add(1)
		return w.impl.HandleMessage(w.ctx, m)
	}
	if now, ok := w.impl.(nowHandler); ok && w.pending.Load() == 0 {
		if handled, err := now.HandleNow(m); handled {
			n.counters.routed.Add(1)
			return err
		}
	}
	if err := w.deliver(ctx, n.closing, m); err != nil {
		n.counters.drop(err)
		return err
	}
	n.counters.routed.Add(1)
	return nil
}

// resolveNext replaces a transport address at the head of onward with the
// local address of the connection to that peer, making the connection if
// there is none, as Ockam's route resolution does. onward may be shared:
// the result is a copy when it differs.
func (n *Node) resolveNext(ctx context.Context, onward routing.Route, fromNetwork bool) (routing.Route, error) {
	next, err := onward.Next()
	if err != nil {
		return nil, ErrEmptyOnwardRoute
	}
	if next.IsLocal() {
		return onward, nil
	}
	t := n.transports.Get(next.Type)
	if t == nil {
		return nil, fmt.Errorf("route to %s: %w", next, ErrUnsupportedTransport)
	}
	addr, err := t.Resolve(ctx, next.Value, fromNetwork)
	if err != nil {
		return nil, err
	}
	return onward[1:].Prepend(addr), nil
}

// Resolve returns onward with a transport address at its head replaced by
// the local address of the connection to that peer, which it dials if
// there is none: a part that keeps a route (a secure channel's way to its
// other side) then ends with that connection. onward is not changed.
func (n *Node) Resolve(ctx context.Context, onward routing.Route) (routing.Route, error) {
	return n.resolveNext(ctx, onward, false)
}

// SendAndReceive sends payload along onward and waits for the first reply,
// until ctx is done.
func (n *Node) SendAndReceive(ctx context.Context, onward routing.Route, payload []byte) ([]byte, error) {
	inbox := &replyInbox{ch: make(chan []byte, 1)}
	name := RandomAddress()
	if _, err := n.startWorker(name, inbox, false); err != nil {
		return nil, err
	}
	defer n.StopWorker(name)
	err := n.Send(ctx, routing.Message{
		Onward:  onward,
		Return:  routing.Route{routing.LocalAddress(name)},
		Payload: payload,
	})
	if err != nil {
		return nil, err
	}
	select {
	case p := <-inbox.ch:
		return p, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a reply from %s: %w", onward.Brief(), ctx.Err())
	case <-n.closing:
		return nil, ErrNodeClosed
	}
}

// replyInbox is the temporary worker behind SendAndReceive.
type replyInbox struct{ ch chan []byte }

func (r *replyInbox) HandleMessage(_ *Context, m *Routed) error {
	select {
	case r.ch <- m.Payload:
	default: // a second reply: the first one was taken
	}
	return nil
}

func (n *Node) isClosed() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.closed
}

// Close shuts the node down: listeners, connections, workers. It returns
// when every goroutine the node started has finished.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.wg.Wait()
		return nil
	}
	n.closed = true
	n.stopping.Store(true)
	closers := make([]func(), 0, len(n.closers))
	for f := range n.closers {
		closers = append(closers, *f)
	}
	last := make([]func(), 0, len(n.lastClosers))
	for f := range n.lastClosers {
		last = append(last, *f)
	}
	n.mu.Unlock()

	// The streams go first, while the connections still take messages:
	// each tells its other end. Concurrently: a stream may wait a moment
	// for its Pong.
	var wg sync.WaitGroup
	for _, f := range closers {
		wg.Go(f)
	}
	wg.Wait()
	// Then the parts the streams went through, telling their other ends.
	for _, f := range last {
		wg.Go(f)
	}
	wg.Wait()
	close(n.closing)
	n.cancel()

	n.transports.closeAll()
	n.mu.Lock()
	for name, w := range n.workers {
		w.close()
		delete(n.workers, name)
	}
	n.mu.Unlock()
	n.runMu.Lock()
	n.runDone = true
	n.runMu.Unlock()
	n.wg.Wait()
	return nil
}

// AtCloseLast registers f to run when the node closes, once the node's
// streams have ended and while its connections still carry messages: the
// shutdown of a part that other parts send through (a secure channel),
// which carries what they say last and then tells its own other end. It
// returns a function that unregisters f, and false if the node is closed
// already.
func (n *Node) AtCloseLast(f func()) (remove func(), ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false
	}
	if n.lastClosers == nil {
		n.lastClosers = make(map[*func()]bool)
	}
	p := &f
	n.lastClosers[p] = true
	return func() {
		n.mu.Lock()
		delete(n.lastClosers, p)
		n.mu.Unlock()
	}, true
}

// RandomAddress returns a fresh 32-hex local address, the form Ockam uses
// for workers it names itself, such as connections.
func RandomAddress() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// AtClose registers f to run when the node begins to close, while its
// connections still carry messages: a part that must tell another node
// that it is going (a portal stream tells its other end) does it there.
// The functions run at once, each on its own goroutine. It returns a
// function that unregisters f, and false if the node is closed already.
func (n *Node) AtClose(f func()) (remove func(), ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false
	}
	p := &f
	n.closers[p] = true
	return func() {
		n.mu.Lock()
		delete(n.closers, p)
		n.mu.Unlock()
	}, true
}

// Go runs f on a goroutine the node joins on Close: Close returns only
// once f has. f must return once Context is done.
func (n *Node) Go(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}
