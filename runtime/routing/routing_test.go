package routing

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestAddressText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Address
		text string
	}{
		{"0#echo", LocalAddress("echo"), "0#echo"},
		{"echo", LocalAddress("echo"), "0#echo"},
		{"1#127.0.0.1:4000", TCPAddress("127.0.0.1:4000"), "1#127.0.0.1:4000"},
		{"2#10.0.0.1:53", Address{UDP, "10.0.0.1:53"}, "2#10.0.0.1:53"},
	} {
		got, err := ParseAddress(tc.in)
		if err != nil {
			t.Fatalf("ParseAddress(%q): %v", tc.in, err)
		}
		if got != tc.want || got.String() != tc.text {
			t.Errorf("ParseAddress(%q) = %v (%s), want %v (%s)", tc.in, got, got, tc.want, tc.text)
		}
	}
	for _, bad := range []string{"", "x#echo", "300#a", "1#"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) succeeded", bad)
		}
	}
}

func TestRouteOperations(t *testing.T) {
	h1, echo, app := LocalAddress("h1"), LocalAddress("echo"), LocalAddress("app")
	onward := NewRoute(h1, echo)
	if next, _ := onward.Next(); next != h1 {
		t.Fatalf("Next = %v", next)
	}
	if last, _ := onward.Recipient(); last != echo {
		t.Fatalf("Recipient = %v", last)
	}
	first, rest, err := onward.Step()
	if err != nil || first != h1 || !rest.Equal(NewRoute(echo)) {
		t.Fatalf("Step = %v %v %v", first, rest, err)
	}
	ret := NewRoute(app).Prepend(h1)
	if !ret.Equal(NewRoute(h1, app)) || ret.String() != "0#h1 => 0#app" {
		t.Fatalf("Prepend = %v", ret)
	}
	if got := NewRoute(h1).Append(echo); !got.Equal(onward) {
		t.Fatalf("Append = %v", got)
	}
	// Prepend never writes into the receiver's storage.
	base := make(Route, 1, 8)
	base[0] = app
	a, b := base.Prepend(h1), base.Prepend(echo)
	if a[0] != h1 || b[0] != echo || base[0] != app {
		t.Fatalf("Prepend shared storage: %v %v %v", a, b, base)
	}
	var empty Route
	if _, err := empty.Next(); !errors.Is(err, ErrEmptyRoute) {
		t.Fatalf("Next on empty: %v", err)
	}
	if _, _, err := empty.Step(); !errors.Is(err, ErrEmptyRoute) {
		t.Fatalf("Step on empty: %v", err)
	}
	if _, err := empty.Recipient(); !errors.Is(err, ErrEmptyRoute) {
		t.Fatalf("Recipient on empty: %v", err)
	}
}

func TestParseMultiAddr(t *testing.T) {
	for _, tc := range []struct {
		in    string
		kinds []SegmentKind
		names []string
		route string
	}{
		{"/service/echo", []SegmentKind{Service}, []string{"echo"}, "0#echo"},
		{"/node/n1/service/hop/service/echo", []SegmentKind{Node, Service, Service}, []string{"n1", "hop", "echo"}, "1#n1.test:4000 => 0#hop => 0#echo"},
		{"/worker/603b62d245c9119d584ba3d874eb8108/service/forward_to_n3/service/uppercase",
			[]SegmentKind{Worker, Service, Service}, []string{"603b62d245c9119d584ba3d874eb8108", "forward_to_n3", "uppercase"},
			"0#603b62d245c9119d584ba3d874eb8108 => 0#forward_to_n3 => 0#uppercase"},
		{"/ip4/127.0.0.1/tcp/4000/service/echo", []SegmentKind{TCPSocket, Service}, []string{"127.0.0.1", "echo"}, "1#127.0.0.1:4000 => 0#echo"},
		{"/ip6/::1/tcp/4000/service/echo", []SegmentKind{TCPSocket, Service}, []string{"::1", "echo"}, "1#[::1]:4000 => 0#echo"},
		{"/dnsaddr/localhost/tcp/4000/service/echo", []SegmentKind{TCPSocket, Service}, []string{"localhost", "echo"}, "1#localhost:4000 => 0#echo"},
		{"/ip4/127.0.0.1/udp/4000", []SegmentKind{UDPSocket}, []string{"127.0.0.1"}, "2#127.0.0.1:4000"},
		{"/node/n2/udp/node/n3/tcp/service/echo", []SegmentKind{Node, Node, Service}, []string{"n2", "n3", "echo"}, "2#n2.test:5000 => 1#n3.test:4000 => 0#echo"},
		{"/node/udp/udp/node/tcp", []SegmentKind{Node, Node}, []string{"udp", "tcp"}, "2#udp.test:5000 => 1#tcp.test:4000"},
		{"/service/echo/", []SegmentKind{Service}, []string{"echo"}, "0#echo"},
	} {
		m, err := ParseMultiAddr(tc.in)
		if err != nil {
			t.Fatalf("ParseMultiAddr(%q): %v", tc.in, err)
		}
		if len(m) != len(tc.kinds) {
			t.Fatalf("ParseMultiAddr(%q) = %d segments, want %d", tc.in, len(m), len(tc.kinds))
		}
		for i, s := range m {
			if s.Kind != tc.kinds[i] || s.Name != tc.names[i] {
				t.Errorf("%q segment %d = %v %q, want %v %q", tc.in, i, s.Kind, s.Name, tc.kinds[i], tc.names[i])
			}
			if s.String() != tc.in[s.Start:s.End] {
				t.Errorf("%q segment %d spans %q, prints %q", tc.in, i, tc.in[s.Start:s.End], s)
			}
		}
		r, err := m.Route(func(name string, t TransportType) (Address, error) {
			if t == UDP {
				return UDPAddress(name + ".test:5000"), nil
			}
			return TCPAddress(name + ".test:4000"), nil
		})
		if err != nil || r.String() != tc.route {
			t.Errorf("%q route = %v, %v; want %s", tc.in, r, err, tc.route)
		}
		if again, err := ParseMultiAddr(m.String()); err != nil || again.String() != m.String() {
			t.Errorf("%q does not round-trip: %v %v", tc.in, again, err)
		}
	}
}

func TestParseMultiAddrErrors(t *testing.T) {
	for _, tc := range []struct {
		in, segment, reason string
	}{
		{"", "", "empty route"},
		{"service/echo", "service/echo", "a route starts with '/'"},
		{"/service", "/service", "/service needs a name"},
		{"/service/echo/bogus/x", "/bogus", `unknown protocol "bogus"`},
		{"/node/n2/udp/4000", "/4000", `unknown protocol "4000"`},
		{"/service/echo/udp", "/udp", `unknown protocol "udp"`},
		{"/service//echo", "/service", "/service needs a name"},
		{"/node/n1//service/echo", "/", "empty segment"},
		{"/ip4/300.0.0.1/tcp/80", "/300.0.0.1", "not an IPv4 address"},
		{"/ip6/127.0.0.1/tcp/80", "/127.0.0.1", "not an IPv6 address"},
		{"/ip4/127.0.0.1/sctp/80", "/sctp", `unknown transport "sctp"`},
		{"/ip4/127.0.0.1/tcp/0", "/0", "not a port"},
		{"/ip4/127.0.0.1/tcp/99999", "/99999", "not a port"},
		{"/ip4/127.0.0.1/tcp", "/ip4/127.0.0.1/tcp", "needs a host, a protocol and a port"},
		{"/node/n1/secure", "/secure", "/secure needs a name"},
		{"/node/n1/sekure/api", "/sekure", `unknown protocol "sekure"`},
	} {
		_, err := ParseMultiAddr(tc.in)
		var me *MultiAddrError
		if !errors.As(err, &me) {
			t.Fatalf("ParseMultiAddr(%q) = %v, want a *MultiAddrError", tc.in, err)
		}
		if got := tc.in[me.Start:me.End]; got != tc.segment {
			t.Errorf("ParseMultiAddr(%q) points at %q, want %q", tc.in, got, tc.segment)
		}
		if !strings.Contains(me.Reason, tc.reason) {
			t.Errorf("ParseMultiAddr(%q) reason %q, want it to say %q", tc.in, me.Reason, tc.reason)
		}
	}
}

// Every relay name is a local name too: a forwarder's address is one.
func TestRelayNameIsLocalName(t *testing.T) {
	for _, name := range []string{"n3", "né", "a b", "a/b", "a#b", "", "\x00", strings.Repeat("a", MaxRelayName), strings.Repeat("a", MaxRelayName+1)} {
		if ValidRelayName(name) == nil && ValidLocalName(name) != nil {
			t.Errorf("%q: a valid relay name but not a valid local name", name)
		}
	}
	if ValidRelayName("né") == nil {
		t.Errorf("né: want refused, the relay service takes ASCII only")
	}
}

// A long route in a log line shows its ends and its length, never all of it.
func TestRouteBrief(t *testing.T) {
	long := make(Route, 1000)
	for i := range long {
		long[i] = LocalAddress(strconv.Itoa(i))
	}
	got := long.Brief()
	want := "0#0 => 0#1 => 0#2 => …(1000 hops in all)… => 0#997 => 0#998 => 0#999"
	if got != want {
		t.Errorf("Brief() = %q, want %q", got, want)
	}
	short := Route{LocalAddress("a"), TCPAddress("127.0.0.1:1")}
	if got := short.Brief(); got != short.String() {
		t.Errorf("short route: Brief() = %q, want %q", got, short.String())
	}
	huge := Route{LocalAddress(strings.Repeat("x", 100000))}
	if got := huge.Brief(); len(got) > 200 || !strings.Contains(got, "(100000 bytes)") {
		t.Errorf("huge value: Brief() = %q", got)
	}
}

// /secure/NAME opens a channel over the route so far, ended by NAME, and
// the route goes on from its encryptor.
func TestRouteSecure(t *testing.T) {
	m, err := ParseMultiAddr("/node/n2/service/forward_to_n3/secure/api/service/outlet")
	if err != nil || !m.HasSecure() || m[2].Kind != Secure || m[2].String() != "/secure/api" {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := m.Route(func(string, TransportType) (Address, error) { return TCPAddress("n2:1"), nil }); err == nil {
		t.Fatal("Route made a route with a secure segment")
	}
	var opened Route
	r, err := m.RouteSecure(func(string, TransportType) (Address, error) { return TCPAddress("n2:1"), nil }, func(to Route) (Address, error) {
		opened = to
		return LocalAddress("enc"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := opened.String(); got != "1#n2:1 => 0#forward_to_n3 => 0#api" {
		t.Errorf("opened over %s", got)
	}
	if got := r.String(); got != "0#enc => 0#outlet" {
		t.Errorf("route %s", got)
	}
}
