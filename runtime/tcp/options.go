package tcp

import (
	"time"

	"github.com/ockamtop/ockamtop/runtime"
)

// Options configure a node's TCP transport. The zero value is usable.
type Options struct {
	// HandshakeTimeout bounds how long a new connection may take to send
	// its protocol version byte, and then, on a connection a listener
	// accepted, to begin its first good frame (10s each): a peer that
	// connects and says nothing is closed. A connection may be idle for
	// as long as it likes after its first frame.
	HandshakeTimeout time.Duration
	// FrameTimeout bounds how long a TCP connection may wait for the next
	// byte of a frame begun: a frame whose bytes stop coming for that long
	// (up to twice that) closes the connection. A slow frame whose bytes
	// keep coming is never cut. (30s)
	FrameTimeout time.Duration
	// MaxAcceptedConnections is how many connections each TCP listener
	// keeps open at a time; one more is closed as soon as it is accepted,
	// with a rate-limited warning. (DefaultMaxAcceptedConnections)
	MaxAcceptedConnections int
	// DialTimeout bounds an outgoing TCP connect (10s).
	DialTimeout time.Duration
	// MayDial says whether a message that arrived from the network may make
	// this node dial "host:port". Nil allows none: a node is no open proxy.
	// Connections that already exist are used either way.
	MayDial func(hostport string) bool
}

// DefaultMaxAcceptedConnections is how many connections a TCP listener
// keeps open at a time unless Options say otherwise: well past what a
// topology's nodes open to one node, well short of a process's file
// descriptors.
const DefaultMaxAcceptedConnections = 4096

// New makes a node's TCP transport with the default options
// (runtime.Options.Transports).
func New(h *runtime.Host) runtime.Transport { return newTransport(h, Options{}) }

// With is New with opts.
func With(opts Options) runtime.NewTransport {
	return func(h *runtime.Host) runtime.Transport { return newTransport(h, opts) }
}

// withDefaults fills in what opts leave zero.
func (opts Options) withDefaults() Options {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.FrameTimeout <= 0 {
		opts.FrameTimeout = 30 * time.Second
	}
	if opts.MaxAcceptedConnections <= 0 {
		opts.MaxAcceptedConnections = DefaultMaxAcceptedConnections
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	return opts
}
