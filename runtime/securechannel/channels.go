// Package securechannel runs Ockam's secure channels on a node of the node
// library: a node's identity in them, its listeners, and the channels it
// opens and accepts. The channels' wire (the Noise XX handshake,
// identities, the data phase) is package secure's; this package makes
// workers of it, and uses only a node's exported API.
package securechannel

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// Secure channels are Ockam's end-to-end encrypted channels, made of
// workers like any other (the wire is in package secure):
//
//   - A listener, a service at a well-known name (Ockam's default is
//     "api"), takes handshake message 1. For each, it starts a responder's
//     decryptor at a random address, which sends message 2 back along the
//     message's return route and takes message 3.
//   - The initiator starts its decryptor at a random address and sends
//     message 1 from it along the route to the listener; message 2 comes
//     back from the responder's decryptor, whose address ends its return
//     route. The initiator sends message 3, and everything after, along
//     its route to the listener with the listener's address replaced by
//     the responder's decryptor (Ockam uses message 2's return route,
//     which names the relay node's end of the relay's connection of the
//     moment; the route to the listener follows a relay that registers
//     again). Its first hop is resolved once, to a connection.
//   - Once the handshake is done each side has a decryptor (the handshake
//     address, which takes encrypted messages) and an encryptor (another
//     random address). A message routed to the encryptor has the
//     encryptor popped off its onward route; its onward route, return
//     route and payload are encrypted and sent, with an empty return
//     route, to the other side's decryptor, which routes the plaintext on
//     with its own encryptor pushed onto the return route, so that replies
//     go back encrypted. Nodes in between see the nonce and ciphertext.
//     Both run inline, on their senders' goroutines.
//   - The responder learns its way back from each message with a newer
//     nonce: its return route, plus the initiator's decryptor.
//   - Flow control: each channel side has a flow of its own
//     (runtime.Flow), which its decryptor's messages carry. A responder's
//     decryptor takes messages from the node's inbound flows, as the
//     listener does, and what it decrypts may reach the node's services.
//     What the initiator decrypts reaches only the workers that sent
//     through its encryptor.
//   - A channel closes when either side sends Close, when its node closes
//     (it sends Close then), when the initiator's first connection closes
//     (the next user of the route then makes a new channel, with a new
//     handshake), or when a side hears nothing, keepalives included, for
//     Options.KeepAlive.DeadAfter (keepalive.go).

// DefaultListener is the listener name Ockam uses by default.
const DefaultListener = "api"

// maxPendingHandshakes bounds the handshakes under way on a node: each
// holds a worker until it finishes or times out, and message 1 costs a
// peer nothing.
const maxPendingHandshakes = 1024

// Options configure a node's secure channels. Zero values take the
// defaults.
type Options struct {
	// Identity is the node's identity in secure channels. When it is nil,
	// IdentityFrom gives it the first time the channels are used (a node
	// that never uses them never reads its identity); nil both makes one,
	// kept in memory for the node's life.
	Identity     *secure.Identity
	IdentityFrom func() (*secure.Identity, error)
	// KeepAlive paces the channels' keepalives (keepalive.go): an
	// initiator that has heard nothing from the other side for Every
	// sends one, and either side closes a channel that has heard nothing
	// for DeadAfter (runtime.KeepAlive's defaults: 10s, 30s).
	KeepAlive runtime.KeepAlive
}

// Channels are a node's secure channels: its identity in them, and the
// channels it opened and its listeners accepted. Nothing runs until one
// is first used (Listen, Open, Identifier); from then on they close with
// the node, each telling its other side. A node has one Channels.
type Channels struct {
	node *runtime.Node
	opts Options

	once sync.Once
	id   *secure.Identity
	// static is the node's secure channel purpose key, attested by id.
	static *ecdh.PrivateKey
	att    secure.Attestation
	err    error

	mu sync.Mutex
	// opening are the handshakes under way, by route; guarded by mu.
	opening map[string]*opening
	// channels by encryptor address; byRoute the initiators by the route
	// to their listener. Both guarded by mu.
	channels map[string]*channel
	byRoute  map[string]*channel
	// unhook removes the node's connection-closed hook; guarded by mu.
	unhook func()
	// pending are the channel sides whose handshake is under way;
	// guarded by mu.
	pending map[*channel]struct{}
	// counters are read by Counters (counters.go).
	counters counters
}

// New returns node n's secure channels.
func New(n *runtime.Node, opts Options) *Channels {
	opts.KeepAlive = opts.KeepAlive.WithDefaults()
	return &Channels{node: n, opts: opts}
}

// init makes the node's identity (Options.Identity, or a new one kept in
// memory) and its attested static key, once, and starts the keepalives.
func (s *Channels) init() error {
	s.once.Do(func() {
		n := s.node
		// Under mu: a Close may be closing the channels meanwhile.
		s.mu.Lock()
		defer s.mu.Unlock()
		var err error
		s.id = s.opts.Identity
		if s.id == nil && s.opts.IdentityFrom != nil {
			if s.id, err = s.opts.IdentityFrom(); err != nil {
				s.err = fmt.Errorf("identity of node %s: %w", n.Name(), err)
				return
			}
		}
		if s.id == nil {
			if s.id, err = secure.NewIdentity(time.Now()); err != nil {
				s.err = fmt.Errorf("identity of node %s: %w", n.Name(), err)
				return
			}
		}
		if !s.id.HasSecret() {
			s.err = fmt.Errorf("identity of node %s: a public identity, without its secret key", n.Name())
			return
		}
		if s.static, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
			s.err = fmt.Errorf("secure channel key of node %s: %w", n.Name(), err)
			return
		}
		s.att = s.id.Attest(s.static.PublicKey().Bytes(), time.Now())
		s.channels = map[string]*channel{}
		s.byRoute = map[string]*channel{}
		s.opening = map[string]*opening{}
		s.pending = map[*channel]struct{}{}
		if _, ok := n.AtCloseLast(s.closeAll); !ok {
			s.err = runtime.ErrNodeClosed
			return
		}
		s.unhook = n.Transports().OnConnectionClosed(s.connectionClosed)
		sink := runtime.RandomAddress()
		if s.err = n.StartWorker(sink, keepAliveSink{}); s.err != nil {
			return
		}
		n.Go(func() { s.keepAlive(sink) })
	})
	return s.err
}

// Identifier is the node's identity's identifier.
func (s *Channels) Identifier() (secure.Identifier, error) {
	if err := s.init(); err != nil {
		return secure.Identifier{}, err
	}
	return s.id.Identifier, nil
}

// Info describes an open channel, for status.
type Info struct {
	// Encryptor is the local address to route messages into the channel.
	Encryptor string `json:"encryptor"`
	// Decryptor is the address the other side sends to.
	Decryptor string `json:"decryptor"`
	// Initiator is true on the side that opened the channel.
	Initiator bool `json:"initiator"`
	// Peer is the other side's identifier.
	Peer string `json:"peer"`
	// Route is, for an initiator, the route to the listener; for a
	// responder, the listener's name.
	Route string `json:"route"`
}

// List lists the node's open channels, sorted by route.
func (s *Channels) List() []Info {
	s.mu.Lock()
	out := make([]Info, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, Info{Encryptor: c.encAddr, Decryptor: c.decAddr, Initiator: c.initiator, Peer: c.peer.String(), Route: c.label})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Encryptor, b.Encryptor))
	})
	return out
}

// opening is a handshake under way, shared by every caller that wants a
// channel over the same route; it is abandoned when they all give up.
type opening struct {
	done    chan struct{}
	c       *channel // set before done is closed
	err     error    // set before done is closed
	waiters int      // guarded by Channels.mu
	cancel  context.CancelFunc
}

// Open returns the local address of the encryptor of a channel from this
// node to the listener at the end of route: the open one, or a new one
// after a handshake. Route the rest of a route behind that address to
// send it through the channel. A handshake that every caller has given up
// on (ctx) is abandoned, so that the next call starts anew: a message 1
// lost on the way (a relay not registered yet) costs one caller's
// patience, not the route's.
func (s *Channels) Open(ctx context.Context, route routing.Route) (routing.Address, error) {
	if err := s.init(); err != nil {
		return routing.Address{}, err
	}
	n := s.node
	if n.Context().Err() != nil {
		return routing.Address{}, runtime.ErrNodeClosed
	}
	key := route.String()
	s.mu.Lock()
	if c := s.byRoute[key]; c != nil {
		s.mu.Unlock()
		return routing.LocalAddress(c.encAddr), nil
	}
	o := s.opening[key]
	if o == nil {
		octx, cancel := context.WithTimeout(n.Context(), handshakeTimeout)
		o = &opening{done: make(chan struct{}), cancel: cancel}
		s.opening[key] = o
		n.Go(func() {
			defer cancel()
			c, err := s.open(octx, route.Clone(), key)
			s.mu.Lock()
			o.c, o.err = c, err
			if s.opening[key] == o {
				delete(s.opening, key)
			}
			s.mu.Unlock()
			close(o.done)
		})
	}
	o.waiters++
	s.mu.Unlock()
	select {
	case <-o.done:
		if o.err != nil {
			return routing.Address{}, o.err
		}
		return routing.LocalAddress(o.c.encAddr), nil
	case <-ctx.Done():
		s.mu.Lock()
		if o.waiters--; o.waiters == 0 {
			o.cancel()
			if s.opening[key] == o {
				delete(s.opening, key)
			}
		}
		s.mu.Unlock()
		return routing.Address{}, fmt.Errorf("secure channel to %s: %w", route.Brief(), ctx.Err())
	}
}

// CloseChannel closes the channel whose encryptor is at addr, and tells
// the other side.
func (s *Channels) CloseChannel(addr string) error {
	s.mu.Lock()
	c := s.channels[addr]
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("close secure channel %s on node %s: %w", addr, s.node.Name(), runtime.ErrNoSuchAddress)
	}
	c.close(true, "closed locally")
	return nil
}

// addPending records a handshake under way; false when there are too
// many.
func (s *Channels) addPending(c *channel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= maxPendingHandshakes {
		return false
	}
	s.pending[c] = struct{}{}
	return true
}

// removePending forgets a handshake that failed.
func (s *Channels) removePending(c *channel) {
	s.mu.Lock()
	delete(s.pending, c)
	s.mu.Unlock()
}

// register records an established channel.
func (s *Channels) register(c *channel) {
	s.mu.Lock()
	delete(s.pending, c)
	s.channels[c.encAddr] = c
	if c.initiator {
		s.byRoute[c.label] = c
	}
	s.mu.Unlock()
}

// unregister forgets a closed channel.
func (s *Channels) unregister(c *channel) {
	s.mu.Lock()
	if s.channels[c.encAddr] == c {
		delete(s.channels, c.encAddr)
	}
	if s.byRoute[c.label] == c {
		delete(s.byRoute, c.label)
	}
	s.mu.Unlock()
}

// all returns the open channels.
func (s *Channels) all() []*channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*channel, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, c)
	}
	return out
}

// connectionClosed closes the initiators whose messages leave by the
// connection that closed: the way to the other side is gone, and the next
// user of the route makes a new channel. A responder stays: it learns its
// way back from the next message, which a relay that registered again
// brings; its keepalive ends it if none comes.
func (s *Channels) connectionClosed(addr routing.Address) {
	s.mu.Lock()
	var gone []*channel
	for _, c := range s.channels {
		if first, err := c.remoteRoute().Next(); err == nil && first == addr && c.initiator {
			gone = append(gone, c)
		}
	}
	s.mu.Unlock()
	for _, c := range gone {
		c.close(false, "its connection closed")
	}
}

// closeAll closes every channel, telling the other sides: the node is
// closing. It runs while the connections still take messages
// (runtime.Node.AtCloseLast).
func (s *Channels) closeAll() {
	s.mu.Lock()
	all := make([]*channel, 0, len(s.channels))
	for _, c := range s.channels {
		all = append(all, c)
	}
	unhook := s.unhook
	s.unhook = nil
	pending := make([]*channel, 0, len(s.pending))
	for c := range s.pending {
		pending = append(pending, c)
	}
	s.mu.Unlock()
	for _, c := range pending {
		c.fail(runtime.ErrNodeClosed)
	}
	for _, c := range all {
		c.close(true, "node closing")
	}
	if unhook != nil {
		unhook()
	}
}
