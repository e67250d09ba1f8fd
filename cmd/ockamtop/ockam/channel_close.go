package ockam

import (
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/topology"
)

// `secure-channel delete` closes the channel in the node, as Ockam's
// does: the node's channel over the route the name stood for (its
// encryptor and decryptor stop, and the listener's side is told), so that
// nothing is left open for the name. The node keeps one channel a route,
// which every name for that route (and an inlet whose route has it)
// shares: those open a new one with their next message or connection.

// errNotOpen is a channel that is not open in the node.
var errNotOpen = errors.New("not open")

// closeChannel closes node's open channel over route, a route of the
// session's topology ending with /secure/NAME (/node/n2/secure/api), as t
// names its nodes; sc are the node's channels. It reports whether one
// was open.
func closeChannel(t *topology.Topology, sc *securechannel.Channels, route string) (bool, error) {
	m, err := routing.ParseMultiAddr(route)
	if err != nil {
		return false, fmt.Errorf("the channel's route %s: %w", route, err)
	}
	if len(m) == 0 || m[len(m)-1].Kind != routing.Secure {
		return false, fmt.Errorf("the channel's route %s does not end with /secure/NAME", route)
	}
	open := sc.List()
	opened := func(to routing.Route) []securechannel.Info {
		var out []securechannel.Info
		for _, c := range open {
			if c.Initiator && c.Route == to.String() {
				out = append(out, c)
			}
		}
		return out
	}
	resolve := func(name string, tt routing.TransportType) (routing.Address, error) {
		n := t.Node(name)
		switch {
		case n == nil:
			return routing.Address{}, fmt.Errorf("no node %q in the session", name)
		case tt == routing.UDP:
			return routing.UDPAddress(n.UDPListener), nil
		}
		return routing.TCPAddress(n.Listener), nil
	}
	var last []securechannel.Info
	segs := 0
	_, err = m.RouteSecure(resolve, func(to routing.Route) (routing.Address, error) {
		segs++
		cs := opened(to)
		if segs == countSecure(m) {
			last = cs
		}
		if len(cs) == 0 {
			return routing.Address{}, errNotOpen // nor any channel inside it
		}
		return routing.LocalAddress(cs[0].Encryptor), nil
	})
	if err != nil && !errors.Is(err, errNotOpen) {
		return false, err
	}
	for _, c := range last {
		if err := sc.CloseChannel(c.Encryptor); err != nil {
			return false, err
		}
	}
	return len(last) > 0, nil
}

// countSecure is how many /secure segments m has.
func countSecure(m routing.MultiAddr) int {
	n := 0
	for _, s := range m {
		if s.Kind == routing.Secure {
			n++
		}
	}
	return n
}
