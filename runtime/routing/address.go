// Package routing holds the values of Ockam's application-layer routing
// protocol: addresses, routes, messages and the MultiAddr text form users
// copy from Ockam. It has no I/O; the runtime moves these values between
// workers and nodes, and the planner walks them without running anything.
package routing

import (
	"fmt"
	"strconv"
	"strings"
)

// TransportType says which transport an address belongs to. It is the first
// element of an address on the wire.
type TransportType uint8

// Transport types known to ockamtop. The numbers are Ockam's.
const (
	// Local addresses name a worker on the node the message is at.
	Local TransportType = 0
	// TCP addresses name a TCP peer ("host:port") that a transport resolves
	// into a connection worker.
	TCP TransportType = 1
	// UDP addresses name a UDP peer ("host:port") that the UDP transport
	// resolves into the worker of that peer.
	UDP TransportType = 2
)

// String returns the transport's name.
func (t TransportType) String() string {
	switch t {
	case Local:
		return "LOCAL"
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// Address is one hop of a route: a transport type and an opaque value. For
// LOCAL addresses the value is a worker name ("echo", a 32-hex connection
// name); for TCP it is "host:port". The value is a string so that an address
// is comparable and can key a map; it may hold any bytes.
type Address struct {
	Type  TransportType
	Value string
}

// LocalAddress returns the LOCAL address of the worker called name.
func LocalAddress(name string) Address { return Address{Type: Local, Value: name} }

// TCPAddress returns the TCP address of a "host:port" peer.
func TCPAddress(hostport string) Address { return Address{Type: TCP, Value: hostport} }

// UDPAddress returns the UDP address of a "host:port" peer.
func UDPAddress(hostport string) Address { return Address{Type: UDP, Value: hostport} }

// Known reports whether ockamtop knows the transport type.
func (t TransportType) Known() bool { return t <= UDP }

// IsLocal reports whether a names a worker on the current node.
func (a Address) IsLocal() bool { return a.Type == Local }

// String renders the address in Ockam's text form "type#value" ("0#echo").
func (a Address) String() string {
	return strconv.Itoa(int(a.Type)) + "#" + a.Value
}

// ParseAddress reads an address in the "type#value" form. A string without
// '#' is a LOCAL address, as in Ockam's route! macro.
func ParseAddress(s string) (Address, error) {
	i := strings.IndexByte(s, '#')
	if i < 0 {
		if s == "" {
			return Address{}, fmt.Errorf("address: empty")
		}
		return LocalAddress(s), nil
	}
	n, err := strconv.ParseUint(s[:i], 10, 8)
	if err != nil {
		return Address{}, fmt.Errorf("address %q: transport type %q is not a number from 0 to 255", s, s[:i])
	}
	if i+1 == len(s) {
		return Address{}, fmt.Errorf("address %q: empty value", s)
	}
	return Address{Type: TransportType(n), Value: s[i+1:]}, nil
}
