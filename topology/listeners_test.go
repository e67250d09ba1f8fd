package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// moreListeners is the seed topology with a node, n2, that listens on
// two more addresses than its own.
const moreListeners = `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:7001", "127.0.0.2:7000"]
}

node "n1" {}
`

func TestTCPListenersWalk(t *testing.T) {
	for _, tc := range []struct {
		route string
		hops  []string
	}{
		{"/node/n2/service/echo", []string{"n1 connect 127.0.0.1:7000 ->n2", "n2 responder echo"}},
		{"/ip4/127.0.0.1/tcp/7001/service/echo", []string{"n1 connect 127.0.0.1:7001 ->n2", "n2 responder echo"}},
		{"/ip4/127.0.0.2/tcp/7000/service/uppercase", []string{"n1 connect 127.0.0.2:7000 ->n2", "n2 responder uppercase"}},
		{"/ip4/127.0.0.1/tcp/7002/service/echo", []string{"n1 socket 127.0.0.1:7002"}},
	} {
		top, diags := load(t, moreListeners+fmt.Sprintf("check \"c\" {\n  from = node.n1\n  to = %q\n  send = \"x\"\n}\n", tc.route))
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
		if !slices.Equal(got, tc.hops) {
			t.Errorf("%s:\n got %q\nwant %q", tc.route, got, tc.hops)
		}
	}
}

// A message from the network that names one of a node's tcp_listeners
// is a node of the file: the node dials it for the network.
func TestTCPListenersFromTheNetwork(t *testing.T) {
	src := moreListeners + `
node "n3" {
  tcp_listener = "127.0.0.1:7003"
}

check "c" {
  from = node.n1
  to   = "/node/n3/ip4/127.0.0.1/tcp/7001/service/echo"
  send = "x"
}
`
	top, diags := load(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if h := top.Checks[0].Hops[1]; h.Kind != HopConnect || h.To != "n2" || h.Address != "127.0.0.1:7001" {
		t.Errorf("second hop %+v", h)
	}
}

func TestTCPListenersErrors(t *testing.T) {
	for _, src := range []string{`
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = [
    "127.0.0.1:7001",
    "127.0.0.1:7001", # ERROR: Duplicate listener address
    "127.0.0.1:7000", # ERROR: Duplicate listener address
    "127.0.0.1",      # ERROR: Invalid socket address
  ]
}
`, `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = [
    "127.0.0.1:7001",
    "localhost:7001", # ERROR: Port clash
    "0.0.0.0:7000",   # ERROR: Port clash
  ]
}
`, `
node "n2" {
  tcp_listeners = ["127.0.0.1:7001"] # ERROR: Listeners without the node's own
}
`, `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:0", "127.0.0.1:0"] # ERROR: Duplicate listener address
}
`, `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:7001"]
}
node "n3" {
  tcp_listener  = "127.0.0.1:7003"
  tcp_listeners = ["127.0.0.1:7001"] # ERROR: Port clash
}
node "n1" {
  tcp_inlet "web" {
    from = "0.0.0.0:7003" # ERROR: Port clash
    to   = "/node/n3/service/outlet" # ERROR: Unknown service in route
  }
}
`, `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = "127.0.0.1:7001" # ERROR: Incorrect attribute value type
}
`, `
network "lan" {
  subnet = "198.18.7.0/24"
}
node "n2" {
  networks      = [network.lan]
  tcp_listener  = "0.0.0.0:7000"
  tcp_listeners = ["0.0.0.0:7001", "127.0.0.1:7002"] # ERROR: Listener outside the node's networks
}
`} {
		_, got := load(t, src)
		if want := wantErrors(src); !maps.Equal(got, want) {
			t.Errorf("%s\n got %v\nwant %v", src, got, want)
		}
	}
}

// An isolated node takes connections at each of its addresses on each of
// its listeners' ports.
func TestTCPListenersIsolated(t *testing.T) {
	top, diags := load(t, `
network "lan" {
  subnet = "198.18.7.0/24"
}
node "n2" {
  networks      = [network.lan]
  tcp_listener  = "0.0.0.0:7000"
  tcp_listeners = ["198.18.7.1:7001"]
}
node "n1" {
  networks = [network.lan]
}
check "c" {
  from = node.n1
  to   = "/ip4/198.18.7.1/tcp/7001/service/echo"
  send = "x"
}
`)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if h := top.Checks[0].Hops[0]; h.Kind != HopConnect || h.To != "n2" || h.Address != "198.18.7.1:7001" || h.Network != "lan" {
		t.Errorf("first hop %+v", h)
	}
	var text strings.Builder
	if err := top.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  listens also on 198.18.7.1:7001: 198.18.7.1:7001 on lan\n") {
		t.Errorf("plan text:\n%s", text.String())
	}
}

func TestTCPListenersInThePlan(t *testing.T) {
	top := mustLoad(t, moreListeners)
	var kinds []string
	for _, p := range top.Node("n2").Parts() {
		kinds = append(kinds, KindOf(p.Kind).Label(p.Node, p.Name))
	}
	want := []string{"node n2", "tcp_listener of node n2", "tcp_listeners 127.0.0.1:7001 of node n2", "tcp_listeners 127.0.0.2:7000 of node n2"}
	if !slices.Equal(kinds, want) {
		t.Errorf("parts %q, want %q", kinds, want)
	}
	var text strings.Builder
	if err := top.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  listens on 127.0.0.1:7000\n  listens also on 127.0.0.1:7001\n  listens also on 127.0.0.2:7000\n") {
		t.Errorf("plan text:\n%s", text.String())
	}
	js, err := json.Marshal(top.Plan())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"listener":"127.0.0.1:7000","tcp_listeners":["127.0.0.1:7001","127.0.0.2:7000"]`) {
		t.Errorf("plan JSON: %s", js)
	}
	if g := top.Graph(); !slices.Equal(g.Nodes[0].TCPListeners, []string{"127.0.0.1:7001", "127.0.0.2:7000"}) {
		t.Errorf("graph node %+v", g.Nodes[0])
	}
	var dot strings.Builder
	if err := top.WriteDot(&dot); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dot.String(), `127.0.0.1:7000\n127.0.0.1:7001\n127.0.0.2:7000`) {
		t.Errorf("dot:\n%s", dot.String())
	}
}

// Adding or removing one of a node's tcp_listeners changes that listener
// alone: not the node, its own listener, nor what dials it.
func TestCompareTCPListeners(t *testing.T) {
	withRelay := moreListeners + `
node "n3" {
  relay "n3" {
    at = node.n2
  }
}
`
	for _, tc := range []struct {
		from, to string
		want     []string
	}{
		{`["127.0.0.1:7001", "127.0.0.2:7000"]`, `["127.0.0.1:7001", "127.0.0.2:7000", "127.0.0.1:7002"]`, []string{`+ tcp_listeners 127.0.0.1:7002 of node n2: "127.0.0.1:7002"`}},
		{`["127.0.0.1:7001", "127.0.0.2:7000"]`, `["127.0.0.2:7000"]`, []string{`- tcp_listeners 127.0.0.1:7001 of node n2`}},
		{`["127.0.0.1:7001", "127.0.0.2:7000"]`, `["127.0.0.1:7005", "127.0.0.2:7000"]`, []string{`+ tcp_listeners 127.0.0.1:7005 of node n2: "127.0.0.1:7005"`, `- tcp_listeners 127.0.0.1:7001 of node n2`}},
		{`["127.0.0.1:7001", "127.0.0.2:7000"]`, `["127.0.0.2:7000", "127.0.0.1:7001"]`, nil},
	} {
		d := Compare(mustLoad(t, withRelay), mustLoad(t, strings.Replace(withRelay, tc.from, tc.to, 1)))
		if got := d.Lines(); !slices.Equal(got, tc.want) {
			t.Errorf("%s -> %s:\n%s\nwant:\n%s", tc.from, tc.to, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// On a container engine each of a node's listeners binds on every
// interface of its container at the file's port, which must be fixed.
func TestTCPListenersOnAnEngine(t *testing.T) {
	top, errs := loadEngine(t, `
node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:7001"]
}
`)
	if errs != "" {
		t.Fatal(errs)
	}
	if got := top.Node("n2").TCPListeners; !slices.Equal(got, []string{"0.0.0.0:7001"}) {
		t.Errorf("on an engine n2 listens also on %v", got)
	}
	for _, tc := range []struct{ src, want string }{
		{`node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:0"]
}`, "Port picked at run time"},
		{`node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.2:7000"]
}`, "Port clash"},
	} {
		if top, errs := loadEngine(t, tc.src); top != nil || !strings.Contains(errs, tc.want) {
			t.Errorf("got %q, want an error with %q", errs, tc.want)
		}
	}
}
