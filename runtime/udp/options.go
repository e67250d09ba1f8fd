package udp

import (
	"time"

	"github.com/ockamtop/ockamtop/runtime"
)

// Options configure a node's UDP transport. The zero value is usable.
type Options struct {
	// DialTimeout bounds making a socket for a new peer (10s).
	DialTimeout time.Duration
	// MayDial says whether a message that arrived from the network may
	// make this node send datagrams to a "host:port" it has not heard
	// from. Nil allows none: a node is no open proxy.
	MayDial func(hostport string) bool
}

// New makes a node's UDP transport with the default options
// (runtime.Options.Transports).
func New(h *runtime.Host) runtime.Transport { return newTransport(h, Options{}) }

// With is New with opts.
func With(opts Options) runtime.NewTransport {
	return func(h *runtime.Host) runtime.Transport { return newTransport(h, opts) }
}
