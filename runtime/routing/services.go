package routing

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// The facts that the planner and the runtime must agree on live here, once:
// the well-known addresses every node has, the service types a file can
// start, and the limits on names and routes. The planner refuses what the
// runtime would refuse, because both call the same functions.

// Well-known local addresses.
const (
	// EchoService answers every message with its payload: the seeds' Echoer.
	EchoService = "echo"
	// UppercaseService answers with the payload's string in upper case.
	UppercaseService = "uppercase"
	// HopService is the usual address of a hop worker.
	HopService = "hop"
	// RelayService takes relay registrations; StaticRelayService is its
	// alias, the one Ockam's `relay create` uses.
	RelayService       = "forwarding_service"
	StaticRelayService = "static_forwarding_service"
	// ForwarderPrefix starts the address of a relay's forwarder:
	// forward_to_n3.
	ForwarderPrefix = "forward_to_"
)

// ServiceType is a kind of worker a `service` block can start.
type ServiceType string

// The service types.
const (
	Echo      ServiceType = "echo"
	Hop       ServiceType = "hop"
	Uppercase ServiceType = "uppercase"
)

// ServiceTypes lists every service type, sorted.
var ServiceTypes = []ServiceType{Echo, Hop, Uppercase}

// DefaultServices are the services every node runs, by address.
var DefaultServices = map[string]ServiceType{EchoService: Echo, UppercaseService: Uppercase}

// IsRelayService reports whether name is an address of the relay service.
func IsRelayService(name string) bool {
	return name == RelayService || name == StaticRelayService
}

// Forwarder is the address of the forwarder of the relay called name.
func Forwarder(name string) string { return ForwarderPrefix + name }

// MaxRelayName is the longest relay name, in bytes, a relay service accepts.
const MaxRelayName = 128

// MaxNodeName is the longest node name, in bytes: a node's name names
// files too (NAME.identity, at most 255 bytes on most file systems), and a
// relay, which is often named after its node, has MaxRelayName.
const MaxNodeName = MaxRelayName

// MaxRouteLength bounds the onward and return routes of a message: a route
// of a million hops would cost every node it crosses that many steps.
const MaxRouteLength = 128

// ValidLocalName checks a name used as a local worker address in a file: it
// must survive the MultiAddr text form, so it is printable and holds no
// space, '/' or '#'.
func ValidLocalName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name is not valid UTF-8")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || r == ' ' || r == '/' || r == '#' {
			return fmt.Errorf("name holds %q: only printable characters without spaces, '/' or '#'", r)
		}
	}
	return nil
}

// ValidRelayName checks a relay name, as the relay service does for a
// registration from the network: a local name of printable ASCII, at most
// MaxRelayName bytes.
func ValidRelayName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > MaxRelayName:
		return fmt.Errorf("name of %d bytes, the limit is %d", len(name), MaxRelayName)
	}
	for _, r := range name {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' || r == '/' || r == '#' {
			return fmt.Errorf("name holds %q: only printable ASCII without spaces, '/' or '#'", r)
		}
	}
	return nil
}
