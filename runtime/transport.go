package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// A transport moves routing messages between nodes over one kind of
// network, as Ockam's transports do: it registers for its transport type
// (TCP = 1, UDP = 2), owns its connections, and the router hands it every
// message whose next hop is an address of that type. The router names no
// concrete transport: the transports live in role packages of their own
// (runtime/tcp, runtime/udp), which a caller names in Options.Transports,
// and each sees the node through its Host (host.go), as wireguard-go's
// conn.Bind sees its device only through the functions it is given.
//
// A connection is a worker at a random local address. Routing a message to
// that address sends it to the peer; a message that arrives from the peer
// gets that address pushed onto its return route, so replies go back the
// same way.

// Transport is one kind of network a node reaches other nodes over.
type Transport interface {
	// Type is the transport type of the addresses it resolves.
	Type() routing.TransportType
	// Resolve returns the local address of the connection to peer (the
	// address's value, "host:port" for TCP), making the connection if there
	// is none yet. For a message from the network (fromNetwork), it only
	// makes connections to peers the node may dial (the transport's own
	// options say which).
	Resolve(ctx context.Context, peer string, fromNetwork bool) (routing.Address, error)
	// Connection returns the live connection whose worker is at the local
	// address addr.
	Connection(addr string) (Connection, bool)
	// Connections lists the live connections.
	Connections() []Connection
	// Close stops the transport's listeners and closes its connections,
	// after the messages already queued on them have been written.
	Close()
}

// NewTransport makes one transport of a node, seeing the node through h
// (Options.Transports).
type NewTransport func(h *Host) Transport

// Connection is a live connection of a transport.
type Connection interface {
	// Address is the connection worker's local address: route messages to
	// it to send them to the peer.
	Address() routing.Address
	// Transport is the connection's transport type.
	Transport() routing.TransportType
	// RemoteAddr is the peer's network address.
	RemoteAddr() string
	// Outgoing reports whether this node made the connection.
	Outgoing() bool
	// Received counts the frames read from the peer: it grows while the
	// peer is alive and sending.
	Received() uint64
	// Done is closed when the connection has closed.
	Done() <-chan struct{}
	// Close closes the connection at once.
	Close()
}

// DrainTimeout bounds how long closing a connection waits for the
// messages already queued on it to be written: a part that tells its
// other end as it closes waits as long for its turn to send.
const DrainTimeout = 2 * time.Second

// drainer is a connection that can write out what is queued on it before
// it is closed on purpose (Transports.CloseConnection).
type drainer interface {
	Drain(timeout time.Duration)
}

// CheckMessage refuses a message naming a transport type ockamtop does not
// know (such a peer does not speak our protocol), or with a route longer
// than routing.MaxRouteLength: a transport checks every message it reads.
func CheckMessage(m *routing.Message) error {
	if len(m.Onward) > routing.MaxRouteLength || len(m.Return) > routing.MaxRouteLength {
		return fmt.Errorf("route of %d/%d hops, the limit is %d", len(m.Onward), len(m.Return), routing.MaxRouteLength)
	}
	for _, r := range [2]routing.Route{m.Onward, m.Return} {
		for _, a := range r {
			if !a.Type.Known() {
				return fmt.Errorf("%w: address %s", ErrUnsupportedTransport, a)
			}
		}
	}
	return nil
}
