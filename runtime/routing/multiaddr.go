package routing

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// SegmentKind says what one MultiAddr segment names.
type SegmentKind uint8

// The segment kinds of Ockam's MultiAddr that ockamtop understands.
const (
	// Service is "/service/NAME": a worker on the node the message is at.
	Service SegmentKind = iota + 1
	// Worker is "/worker/NAME": the same, for a worker with a generated name
	// such as a TCP connection.
	Worker
	// Node is "/node/NAME": the connection from the node the message is at to
	// node NAME's listener. "/node/NAME/tcp" and "/node/NAME/udp" name the
	// transport (the listener) it takes; see Segment.Proto.
	Node
	// TCPSocket is "/ip4|ip6|dnsaddr/HOST/tcp/PORT": a connection to a socket.
	TCPSocket
	// UDPSocket is "/ip4|ip6|dnsaddr/HOST/udp/PORT": a UDP peer.
	UDPSocket
	// Secure is "/secure/NAME": a secure channel, opened (or reused) by the
	// node where the route starts, to the secure channel listener NAME at
	// the end of the route so far; the rest of the route travels inside
	// it, so the nodes in between see ciphertext only.
	Secure
)

// String returns the protocol word of the kind.
func (k SegmentKind) String() string {
	switch k {
	case Service:
		return "service"
	case Worker:
		return "worker"
	case Node:
		return "node"
	case TCPSocket:
		return "tcp"
	case UDPSocket:
		return "udp"
	case Secure:
		return "secure"
	}
	return "segment(" + strconv.Itoa(int(k)) + ")"
}

// Segment is one hop of a MultiAddr, with its place in the text it was read
// from so that a diagnostic can point at it.
type Segment struct {
	Kind SegmentKind
	// Name is the worker or node name, or for sockets the host.
	Name string
	// Proto is "ip4", "ip6" or "dnsaddr" for sockets; for nodes, "tcp" or
	// "udp" when the route names the transport, empty when it does not.
	Proto string
	// Port is the socket's port, zero otherwise.
	Port uint16
	// Start and End are byte offsets of the segment in the parsed text,
	// Start at its leading '/'.
	Start, End int
}

// HostPort returns "host:port" for socket segments.
func (s Segment) HostPort() string {
	return net.JoinHostPort(s.Name, strconv.Itoa(int(s.Port)))
}

// String renders the segment in MultiAddr form.
func (s Segment) String() string {
	switch s.Kind {
	case TCPSocket, UDPSocket:
		return "/" + s.Proto + "/" + s.Name + "/" + s.Kind.String() + "/" + strconv.Itoa(int(s.Port))
	case Node:
		if s.Proto != "" {
			return "/node/" + s.Name + "/" + s.Proto
		}
	}
	return "/" + s.Kind.String() + "/" + s.Name
}

// NodeTransport is the transport a Node segment takes: UDP for
// "/node/NAME/udp", TCP otherwise ("/node/NAME" is Ockam's TCP form).
func (s Segment) NodeTransport() TransportType {
	if s.Proto == "udp" {
		return UDP
	}
	return TCP
}

// MultiAddr is a route in Ockam's text form, such as
// "/node/n2/service/forward_to_n3/service/uppercase".
type MultiAddr []Segment

// String renders the MultiAddr.
func (m MultiAddr) String() string {
	var b strings.Builder
	for _, s := range m {
		b.WriteString(s.String())
	}
	return b.String()
}

// MultiAddrError is a MultiAddr that cannot be read. It names the segment at
// fault and where it is in the text.
type MultiAddrError struct {
	Input      string
	Start, End int
	Reason     string
}

func (e *MultiAddrError) Error() string {
	seg := e.Input[e.Start:e.End]
	if seg == "" {
		return fmt.Sprintf("route %q: %s", e.Input, e.Reason)
	}
	return fmt.Sprintf("route %q: at %q: %s", e.Input, seg, e.Reason)
}

// ParseMultiAddr reads a MultiAddr. Every error is a *MultiAddrError.
func ParseMultiAddr(s string) (MultiAddr, error) {
	fail := func(start, end int, format string, args ...any) error {
		return &MultiAddrError{Input: s, Start: start, End: end, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return nil, fail(0, 0, "empty route")
	}
	if s[0] != '/' {
		return nil, fail(0, len(s), "a route starts with '/', as in /service/echo")
	}
	// Split into words, remembering where each starts.
	type word struct {
		text       string
		start, end int
	}
	var words []word
	for i := 1; i <= len(s); {
		j := strings.IndexByte(s[i:], '/')
		if j < 0 {
			j = len(s) - i
		}
		words = append(words, word{s[i : i+j], i, i + j})
		i += j + 1
	}
	var out MultiAddr
	for k := 0; k < len(words); {
		w := words[k]
		start := w.start - 1
		if w.text == "" {
			if k == len(words)-1 && k > 0 {
				break // a trailing slash is harmless
			}
			return nil, fail(start, w.end, "empty segment")
		}
		switch w.text {
		case "service", "worker", "node", "secure":
			if k+1 >= len(words) || words[k+1].text == "" {
				return nil, fail(start, w.end, "/%s needs a name", w.text)
			}
			name := words[k+1]
			kind := map[string]SegmentKind{"service": Service, "worker": Worker, "node": Node, "secure": Secure}[w.text]
			seg := Segment{Kind: kind, Name: name.text, Start: start, End: name.end}
			k += 2
			// "/node/NAME/udp": the word after a node's name may name the
			// transport, as the word after a host does in /ip4/A/udp/P.
			if kind == Node && k < len(words) && (words[k].text == "tcp" || words[k].text == "udp") {
				seg.Proto, seg.End = words[k].text, words[k].end
				k++
			}
			out = append(out, seg)
		case "ip4", "ip6", "dnsaddr":
			if k+3 >= len(words) {
				return nil, fail(start, len(s), "/%s needs a host, a protocol and a port, as in /%s/127.0.0.1/tcp/4000", w.text, w.text)
			}
			host, proto, port := words[k+1], words[k+2], words[k+3]
			seg := Segment{Proto: w.text, Name: host.text, Start: start, End: port.end}
			switch w.text {
			case "ip4":
				if a, err := netip.ParseAddr(host.text); err != nil || !a.Is4() {
					return nil, fail(host.start-1, host.end, "%q is not an IPv4 address", host.text)
				}
			case "ip6":
				if a, err := netip.ParseAddr(host.text); err != nil || !a.Is6() {
					return nil, fail(host.start-1, host.end, "%q is not an IPv6 address", host.text)
				}
			case "dnsaddr":
				if host.text == "" {
					return nil, fail(host.start-1, host.end, "empty host name")
				}
			}
			switch proto.text {
			case "tcp":
				seg.Kind = TCPSocket
			case "udp":
				seg.Kind = UDPSocket
			default:
				return nil, fail(proto.start-1, proto.end, "unknown transport %q (want tcp or udp)", proto.text)
			}
			p, err := strconv.ParseUint(port.text, 10, 16)
			if err != nil || p == 0 {
				return nil, fail(port.start-1, port.end, "%q is not a port from 1 to 65535", port.text)
			}
			seg.Port = uint16(p)
			out = append(out, seg)
			k += 4
		default:
			return nil, fail(start, w.end, "unknown protocol %q (want service, worker, node, secure, ip4, ip6 or dnsaddr)", w.text)
		}
	}
	return out, nil
}

// NodeResolver turns a node name into the address of its listener of
// transport t (TCP or UDP), as seen from the node the message is at.
type NodeResolver func(name string, t TransportType) (Address, error)

// SecureOpener opens, or reuses, a secure channel over toListener, a
// route that ends at a secure channel listener, and returns the local
// address of the channel's encryptor.
type SecureOpener func(toListener Route) (Address, error)

// Route turns the MultiAddr into a route of addresses. Node segments are
// resolved with resolve; a nil resolver makes them an error, and so are
// secure segments: use RouteSecure.
func (m MultiAddr) Route(resolve NodeResolver) (Route, error) {
	return m.RouteSecure(resolve, nil)
}

// HasSecure reports whether the MultiAddr has a /secure segment.
func (m MultiAddr) HasSecure() bool {
	for _, s := range m {
		if s.Kind == Secure {
			return true
		}
	}
	return false
}

// RouteSecure is Route, with each /secure/NAME segment replaced by the
// channel that open makes over the route so far, ended by NAME: the route
// then starts again at that channel's encryptor.
func (m MultiAddr) RouteSecure(resolve NodeResolver, open SecureOpener) (Route, error) {
	r := make(Route, 0, len(m))
	for _, s := range m {
		switch s.Kind {
		case Service, Worker:
			r = append(r, LocalAddress(s.Name))
		case TCPSocket:
			r = append(r, TCPAddress(s.HostPort()))
		case UDPSocket:
			r = append(r, UDPAddress(s.HostPort()))
		case Node:
			if resolve == nil {
				return nil, fmt.Errorf("%s: no node resolver", s)
			}
			a, err := resolve(s.Name, s.NodeTransport())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			r = append(r, a)
		case Secure:
			if open == nil {
				return nil, fmt.Errorf("%s: a secure channel needs a node to open it", s)
			}
			enc, err := open(append(r, LocalAddress(s.Name)))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			r = Route{enc}
		}
	}
	return r, nil
}
