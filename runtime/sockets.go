package runtime

import (
	"context"
	"fmt"
	"net"
	"time"
)

// keepAlive is the TCP keepalive of every connection: a dead peer behind a
// silent network is noticed in about a minute.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 3}

// Bind binds a TCP socket as listeners and portal inlets bind theirs.
func Bind(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	return lc.Listen(context.Background(), "tcp", addr)
}

// Sockets makes a node's own sockets: its listener, the connections it
// dials (to other nodes, for its relays) and its outlets' dials of their
// targets. A socket belongs, for its whole life, to the network namespace
// of the thread that made it, so a node in a network namespace of its own
// has its sockets made there (see SocketsIn) while the node itself runs in
// this process like any other. An inlet is not the node's: it binds in
// the host's namespace, as a container's published port does.
//
// Sockets are made on the slow path only (a listen, a dial); reading and
// writing them is the same whichever namespace they belong to.
type Sockets interface {
	// Listen binds a stream listener ("tcp") on address.
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	// Dial connects to address; ctx bounds the connect.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
	// ListenPacket binds a datagram socket ("udp") on address.
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

// Sockets is what makes the node's own sockets (Options.Sockets): an
// outlet dials its target with it.
func (n *Node) Sockets() Sockets { return n.opts.Sockets }

// HostSockets makes sockets in the host's network namespace, that of the
// process: what every node without a network of its own uses.
type HostSockets struct{}

var _ Sockets = HostSockets{}

// Listen binds a listener whose connections get the package's TCP
// keepalive.
func (HostSockets) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	return lc.Listen(ctx, network, address)
}

// Dial connects with the package's TCP keepalive.
func (HostSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: keepAlive}
	return d.DialContext(ctx, network, address)
}

// ListenPacket binds a datagram socket.
func (HostSockets) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

// SocketsIn makes every socket inside enter, a function that runs its
// argument on an OS thread in another network namespace and returns what
// it returned (netns.Namespace.Do): the sockets then belong to that
// namespace.
func SocketsIn(enter func(func() error) error) Sockets { return enteredSockets{enter} }

type enteredSockets struct {
	enter func(func() error) error
}

func (s enteredSockets) Listen(ctx context.Context, network, address string) (ln net.Listener, err error) {
	if e := s.enter(func() error {
		ln, err = HostSockets{}.Listen(ctx, network, address)
		return nil
	}); e != nil {
		return nil, fmt.Errorf("listen on %s: %w", address, e)
	}
	return ln, err
}

func (s enteredSockets) Dial(ctx context.Context, network, address string) (c net.Conn, err error) {
	if e := s.enter(func() error {
		c, err = HostSockets{}.Dial(ctx, network, address)
		return nil
	}); e != nil {
		return nil, fmt.Errorf("dial %s: %w", address, e)
	}
	return c, err
}

func (s enteredSockets) ListenPacket(ctx context.Context, network, address string) (pc net.PacketConn, err error) {
	if e := s.enter(func() error {
		pc, err = HostSockets{}.ListenPacket(ctx, network, address)
		return nil
	}); e != nil {
		return nil, fmt.Errorf("listen on %s: %w", address, e)
	}
	return pc, err
}
