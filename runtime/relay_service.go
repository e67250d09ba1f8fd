package runtime

import (
	"context"
	"fmt"
	"sync"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// The relay service, byte-compatible with Ockam's static relay service:
//
//  1. A node that will not listen (n3) dials the relay node (n2) and sends
//     the BARE string "n3" to static_forwarding_service (or its alias
//     forwarding_service), with its own worker as the return route.
//  2. n2 starts the worker forward_to_n3, whose route is that return route
//     less its last hop: the connection n3 dialed (and any hops before it).
//  3. forward_to_n3 answers with the BARE string "forward_to_n3" along the
//     whole return route, with return route [forward_to_n3].
//  4. From then on a message to forward_to_n3 has that address replaced by
//     the connection and goes to n3, over n3's own connection.
//
// Better than Ockam: the forwarder goes away when its connection does, and a
// new registration of the same name takes over an old one at once.

// relayService is the worker at forwarding_service and its alias.
type relayService struct {
	mu sync.Mutex
	// forwarders maps a forwarder's address to its registration's
	// connection; guarded by mu.
	forwarders map[string]string
	// watched counts, per connection with forwarders, how many it has:
	// they go when it closes (connectionClosed).
	watched map[string]int // guarded by mu
}

// MaxRelaysPerConnection bounds the relays one connection may register.
const MaxRelaysPerConnection = 64

func newRelayService() *relayService {
	return &relayService{forwarders: map[string]string{}, watched: map[string]int{}}
}

// startRelayService starts the relay service at both its addresses.
func (n *Node) startRelayService() {
	s := newRelayService()
	n.relays = s
	// Forwarders live as long as the connection they send over: told of
	// every connection that closes, rather than a goroutine watching each
	// (a hub holds thousands).
	n.transports.OnConnectionClosed(func(addr routing.Address) { s.connectionClosed(n, addr.Value) })
	_ = n.StartService(routing.RelayService, s)
	_ = n.StartService(routing.StaticRelayService, s)
}

// HandleMessage registers a relay.
func (s *relayService) HandleMessage(ctx *Context, msg *Routed) error {
	name, err := wire.String(msg.Payload)
	if err != nil {
		return fmt.Errorf("relay registration refused: %w", err)
	}
	if err := routing.ValidRelayName(name); err != nil {
		return fmt.Errorf("relay registration %q refused: %w", name, err)
	}
	if len(msg.Return) < 2 {
		return fmt.Errorf("relay registration %q refused: return route %s has no worker to answer", name, msg.Return)
	}
	first := msg.Return[0]
	n := ctx.Node()
	conn, ok := n.transports.Connection(first.Value)
	if !first.IsLocal() || !ok {
		return fmt.Errorf("relay registration %q refused: it did not arrive over a connection (return route %s)", name, msg.Return)
	}
	addr := routing.Forwarder(name)

	s.mu.Lock()
	prev, ours := s.forwarders[addr]
	if !ours && n.HasWorker(addr) {
		s.mu.Unlock()
		return fmt.Errorf("relay registration %q refused: address %s is taken by a service", name, addr)
	}
	if prev != first.Value && s.watched[first.Value] >= MaxRelaysPerConnection {
		s.mu.Unlock()
		return fmt.Errorf("relay registration %q refused: connection %s has %d relays, the limit", name, first.Value, MaxRelaysPerConnection)
	}
	if ours {
		// Take over: the newest registration of a name wins, so a node that
		// reconnects is reachable again at once, whatever became of its
		// old connection.
		_ = n.StopWorker(addr)
		ctx.Logger().Info("relay taken over", "relay", addr, "connection", first.Value)
	}
	fwd := &Forwarder{route: msg.Return[:len(msg.Return)-1].Clone()}
	if _, err := n.startWorker(addr, fwd, true); err != nil {
		delete(s.forwarders, addr)
		s.mu.Unlock()
		return fmt.Errorf("relay registration %q: %w", name, err)
	}
	if ours {
		if s.watched[prev]--; s.watched[prev] <= 0 {
			delete(s.watched, prev)
		}
	}
	s.forwarders[addr] = first.Value
	s.watched[first.Value]++
	s.mu.Unlock()
	select {
	case <-conn.Done():
		// It closed as it registered: its close may have been told
		// before the forwarder was there to remove.
		s.connectionClosed(n, first.Value)
	default:
	}
	ctx.Logger().Info("relay registered", "relay", addr, "route", msg.Return.String())
	return n.route(context.Background(), &Routed{Message: routing.Message{
		Onward:  msg.Return,
		Return:  routing.Route{routing.LocalAddress(addr)},
		Payload: wire.EncodeString(addr),
	}})
}

// connectionClosed removes the forwarders of the connection id, which
// has closed.
func (s *relayService) connectionClosed(n *Node, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watched[id] == 0 {
		return
	}
	delete(s.watched, id)
	for addr, c := range s.forwarders {
		if c == id {
			delete(s.forwarders, addr)
			_ = n.StopWorker(addr)
			if n.Quiet() {
				n.Logger().Debug("relay removed: its connection closed", "relay", addr)
			} else {
				n.Logger().Info("relay removed: its connection closed", "relay", addr)
			}
		}
	}
}

// Forwarders lists the relay forwarders the node runs, with the connection
// each sends over.
func (n *Node) Forwarders() map[string]string {
	out := map[string]string{}
	if n.relays == nil {
		return out
	}
	n.relays.mu.Lock()
	defer n.relays.mu.Unlock()
	for k, v := range n.relays.forwarders {
		out[k] = v
	}
	return out
}
