package main

import (
	"fmt"
	"strings"
)

// The many-inlets run holds -inlet-streams idle streams open on each of
// -inlets inlets of one node, m1, to an outlet on m2, m1 and m2 each an
// `ockamtop apply -node` process of its own, as two hosts would run them.
// Each stream holds a descriptor in the client, the inlet, the outlet and
// the echo server: 1,000 inlets with 10 streams need 40,000, more than one
// process may hold here (a hard limit of 20,000), while each of the four
// holds about 10,000.

// manyTopology is m2, listening at the port given, with the outlet to the
// echo server, and m1 with the inlets.
const manyTopology = `
node "m2" {
  tcp_listener = "127.0.0.1:%d"
  tcp_outlet "to_echo" {
    to = %q
  }
}

node "m1" {
%s}
`

// manyInlet is one of m1's inlets.
const manyInlet = `  tcp_inlet "many_%d" {
    from = "127.0.0.1:0"
    to   = "/node/m2/service/to_echo"
  }
`

// manyInlets runs the many-inlets figure against the echo server at echo.
func (b *bench) manyInlets(self, bin, echo string) error {
	port, err := freePort("tcp")
	if err != nil {
		return fmt.Errorf("many inlets: a port for m2: %w", err)
	}
	var inlets strings.Builder
	for i := range b.opts.inlets {
		fmt.Fprintf(&inlets, manyInlet, i)
	}
	hcl := fmt.Sprintf(manyTopology, port, echo, inlets.String())
	m2, _, err := b.applyAs(bin, "many_m2", hcl, "-node", "m2")
	if err != nil {
		return fmt.Errorf("many inlets: m2: %w", err)
	}
	m1, up, err := b.applyAs(bin, "many_m1", hcl, "-node", "m1")
	if err != nil {
		return fmt.Errorf("many inlets: m1: %w", err)
	}
	addrs := make([]string, 0, b.opts.inlets)
	for i := range b.opts.inlets {
		addr, ok := up.Inlets[fmt.Sprintf("m1.many_%d", i)]
		if !ok {
			return fmt.Errorf("many inlets: m1's ready file has no inlet many_%d", i)
		}
		addrs = append(addrs, addr)
	}
	where := fmt.Sprintf("on %d inlets, %d each, in two processes,", b.opts.inlets, b.opts.inletStreams)
	return b.idleStreams(self, where, []*ockamtop{m1, m2}, addrs, b.opts.inletStreams)
}
