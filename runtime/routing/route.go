package routing

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEmptyRoute is returned when a route operation needs an address and the
// route has none.
var ErrEmptyRoute = errors.New("route is empty")

// Route is an ordered list of addresses. A message carries two: its onward
// route, where it goes next, and its return route, how to answer it.
//
// Routes are values: every operation returns a new route and leaves its
// receiver unchanged, except that Step reslices without copying.
type Route []Address

// NewRoute builds a route from addresses.
func NewRoute(addrs ...Address) Route { return Route(addrs) }

// Next returns the first address, the one the message goes to now.
func (r Route) Next() (Address, error) {
	if len(r) == 0 {
		return Address{}, ErrEmptyRoute
	}
	return r[0], nil
}

// Recipient returns the last address, the final destination.
func (r Route) Recipient() (Address, error) {
	if len(r) == 0 {
		return Address{}, ErrEmptyRoute
	}
	return r[len(r)-1], nil
}

// Step removes the first address, as a worker does with its own address on
// the onward route before forwarding. It shares the receiver's storage.
func (r Route) Step() (Address, Route, error) {
	if len(r) == 0 {
		return Address{}, nil, ErrEmptyRoute
	}
	return r[0], r[1:], nil
}

// Prepend returns a new route with addrs in front of r, as a worker does with
// its own address on the return route.
func (r Route) Prepend(addrs ...Address) Route {
	out := make(Route, 0, len(addrs)+len(r))
	out = append(out, addrs...)
	return append(out, r...)
}

// Append returns a new route with addrs after r.
func (r Route) Append(addrs ...Address) Route {
	out := make(Route, 0, len(r)+len(addrs))
	out = append(out, r...)
	return append(out, addrs...)
}

// Clone returns a copy that shares no storage with r.
func (r Route) Clone() Route {
	if r == nil {
		return nil
	}
	return append(make(Route, 0, len(r)), r...)
}

// Equal reports whether two routes hold the same addresses in order.
func (r Route) Equal(o Route) bool {
	if len(r) != len(o) {
		return false
	}
	for i := range r {
		if r[i] != o[i] {
			return false
		}
	}
	return true
}

// String renders the route as Ockam does: "0#h1 => 0#echo".
func (r Route) String() string {
	parts := make([]string, len(r))
	for i, a := range r {
		parts[i] = a.String()
	}
	return strings.Join(parts, " => ")
}

// briefHops is how many hops Brief shows at each end of a long route, and
// briefValue the longest address value it shows whole.
const (
	briefHops  = 3
	briefValue = 64
)

// Brief renders the route for a log line: a long route shows its first and
// last hops and how many it has, a long address value its start, so that no
// message from the network can make a log line large.
func (r Route) Brief() string {
	var b strings.Builder
	brief := func(a Address) {
		if b.Len() > 0 {
			b.WriteString(" => ")
		}
		if len(a.Value) > briefValue {
			a.Value = fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(a.Value[:briefValue], "?"), len(a.Value))
		}
		b.WriteString(a.String())
	}
	if len(r) <= 2*briefHops+1 {
		for _, a := range r {
			brief(a)
		}
		return b.String()
	}
	for _, a := range r[:briefHops] {
		brief(a)
	}
	fmt.Fprintf(&b, " => …(%d hops in all)…", len(r))
	for _, a := range r[len(r)-briefHops:] {
		brief(a)
	}
	return b.String()
}
