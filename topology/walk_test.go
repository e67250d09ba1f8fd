package topology

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/schema"
)

const seedTopology = `
node "n2" {
  tcp_listener = "127.0.0.1:7000"
}

node "n3" {
  service "hop" {}
  relay "n3" {
    at = node.n2
  }
  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }
}

node "n4" {
  tcp_listener = "127.0.0.1:7004"
  allow        = ["custom"]
}

node "n1" {
  service "h1" {
    type = "hop"
  }
}
`

func load(t *testing.T, src string) (*Topology, map[int]string) {
	t.Helper()
	top, _, diags := Load("test.hcl", []byte(src), schema.Overrides{})
	got := map[int]string{}
	for _, d := range diags {
		if d.Subject == nil {
			t.Fatalf("diagnostic without a range: %s", d.Error())
		}
		got[d.Subject.Start.Line] = d.Summary
	}
	return top, got
}

// wantErrors reads "# ERROR: Summary" comments: line -> summary.
func wantErrors(src string) map[int]string {
	want := map[int]string{}
	re := regexp.MustCompile(`#\s*ERROR:\s*(.+)$`)
	for i, line := range strings.Split(src, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			want[i+1] = strings.TrimSpace(m[1])
		}
	}
	return want
}

func TestWalkGoodRoutes(t *testing.T) {
	for _, tc := range []struct {
		route string
		hops  []string
	}{
		{"/service/echo", []string{"n1 responder echo"}},
		{"/service/h1/service/uppercase", []string{"n1 hop h1", "n1 responder uppercase"}},
		{"/node/n2/service/forward_to_n3/service/uppercase", []string{"n1 connect 127.0.0.1:7000 ->n2", "n2 relay forward_to_n3 ->n3", "n3 responder uppercase"}},
		{"/node/n2/service/forward_to_n3/service/hop/service/hop/service/echo", []string{"n1 connect 127.0.0.1:7000 ->n2", "n2 relay forward_to_n3 ->n3", "n3 hop hop", "n3 hop hop", "n3 responder echo"}},
		{"/node/n2/node/n4/service/echo", []string{"n1 connect 127.0.0.1:7000 ->n2", "n2 connect 127.0.0.1:7004 ->n4", "n4 responder echo"}},
		{"/ip4/127.0.0.1/tcp/7004/service/echo", []string{"n1 connect 127.0.0.1:7004 ->n4", "n4 responder echo"}},
		{"/node/n4/service/custom/service/anything", []string{"n1 connect 127.0.0.1:7004 ->n4", "n4 allowed custom"}},
		{"/ip4/10.1.2.3/tcp/80/service/echo", []string{"n1 socket 10.1.2.3:80"}},
	} {
		src := seedTopology + fmt.Sprintf(`
check "c" {
  from = node.n1
  to   = %q
  send = "x"
}
`, tc.route)
		top, diags := load(t, src)
		if len(diags) > 0 {
			t.Fatalf("%s: %v", tc.route, diags)
		}
		var got []string
		for _, h := range top.Checks[0].Hops {
			s := fmt.Sprintf("%s %s %s", h.Node, h.Kind, h.Address)
			if h.To != "" {
				s += " ->" + h.To
			}
			got = append(got, s)
		}
		if strings.Join(got, "; ") != strings.Join(tc.hops, "; ") {
			t.Errorf("%s:\n got %q\nwant %q", tc.route, got, tc.hops)
		}
	}
}

func TestWalkInletToOutlet(t *testing.T) {
	src := seedTopology + `
node "n5" {
  tcp_inlet "web" {
    from = "127.0.0.1:6000"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}
`
	top, diags := load(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	hops := top.Inlets[0].Hops
	if last := hops[len(hops)-1]; last.Kind != HopOutlet || last.Node != "n3" || last.Type != "127.0.0.1:9000" {
		t.Fatalf("last hop %+v", last)
	}
}

func TestWalkBadRoutes(t *testing.T) {
	src := seedTopology + `
check "a" {
  from = node.n1
  to   = "/node/n3/service/echo" # ERROR: Node does not listen
  send = "x"
}
check "b" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n2/service/echo" # ERROR: Unknown service in route
  send = "x"
}
check "c" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3" # ERROR: Route does not end at a service
  send = "x"
}
check "d" {
  from = node.n1
  to   = "/node/n2/ip4/10.0.0.1/tcp/80/service/echo" # ERROR: Node will not dial for the network
  send = "x"
}
check "e" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/service/outlet" # ERROR: Route does not end at a service
  send = "x"
}
check "f" {
  from = node.n1
  to   = "/service/hop/service/echo" # ERROR: Unknown service in route
  send = "x"
}
check "g" {
  from = node.n1
  to   = "/node/n2/ip4/10.0.0.1/udp/80/service/echo" # ERROR: Node will not send for the network
  send = "x"
}
check "h" {
  from = node.n1
  to   = "/node/n2/service/static_forwarding_service" # ERROR: Route to the relay service
  send = "x"
}
check "i" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/service/outlet/service/echo" # ERROR: Route goes on after an outlet
  send = "x"
}
check "j" {
  from = node.n1
  to   = "/service/h1" # ERROR: Route does not end at a service
  send = "x"
}
node "n6" {
  tcp_inlet "a" {
    from = "127.0.0.1:6001"
    to   = "/node/n2/service/forward_to_n3/service/hop" # ERROR: Route does not end at an outlet
  }
  tcp_inlet "b" {
    from = "127.0.0.1:6002"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/echo" # ERROR: Route does not end at an outlet
  }
  tcp_inlet "c" {
    from = "127.0.0.1:6003"
    to   = "/node/n2/service/forward_to_n3/service/outlett" # ERROR: Unknown service in route
  }
}
`
	_, got := load(t, src)
	want := wantErrors(src)
	all := maps.Clone(want)
	maps.Copy(all, got)
	for _, l := range slices.Sorted(maps.Keys(all)) {
		if got[l] != want[l] {
			t.Errorf("line %d: got %q, want %q", l, got[l], want[l])
		}
	}
}

// The error points at the segment that fails, inside the route string.
func TestWalkErrorRange(t *testing.T) {
	src := seedTopology + `
check "b" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n2/service/echo"
  send = "x"
}
`
	_, _, diags := Load("test.hcl", []byte(src), schema.Overrides{})
	if len(diags) != 1 {
		t.Fatalf("diags: %v", diags)
	}
	rng := diags[0].Subject
	if got := src[rng.Start.Byte:rng.End.Byte]; got != "/service/forward_to_n2" {
		t.Fatalf("range covers %q", got)
	}
	if !strings.Contains(diags[0].Detail, `Did you mean "forward_to_n3"?`) {
		t.Fatalf("detail: %s", diags[0].Detail)
	}
}

func TestStartOrder(t *testing.T) {
	top, diags := load(t, `
node "a" {
  relay "a" {
    at = node.b
  }
}
node "b" {
  tcp_listener = "127.0.0.1:0"
  relay "b" {
    at = node.c
  }
}
node "c" {
  tcp_listener = "127.0.0.1:0"
}
`)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var names []string
	for _, n := range top.Order {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, ","); got != "c,b,a" {
		t.Fatalf("order %s", got)
	}
}

// A route is refused when its onward route, or the return route it builds
// on the way, is longer than the runtime accepts.
func TestRouteLength(t *testing.T) {
	src := func(hops int) string {
		return fmt.Sprintf(`
node "n1" {
  service "hop" {}
}
check "long" {
  from = node.n1
  to   = "%s/service/echo"
  send = "x"
}
`, strings.Repeat("/service/hop", hops))
	}
	if _, diags := load(t, src(routing.MaxRouteLength-1)); len(diags) > 0 {
		t.Fatalf("a route of %d addresses: %v", routing.MaxRouteLength, diags)
	}
	_, _, diags := Load("test.hcl", []byte(src(routing.MaxRouteLength)), schema.Overrides{})
	if len(diags) != 1 || diags[0].Summary != "Route too long" ||
		!strings.Contains(diags[0].Detail, strconv.Itoa(routing.MaxRouteLength+1)+" addresses") {
		t.Fatalf("a route of %d addresses: %v", routing.MaxRouteLength+1, diags)
	}

	hops := []Hop{{Kind: HopConnect}, {Kind: HopRelay}, {Kind: HopService}, {Kind: HopResponder}}
	if got := returnLength(hops); got != 4 {
		t.Fatalf("return length %d, want 4", got)
	}
}
