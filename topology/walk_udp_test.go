package topology

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

const udpTopology = `
node "n3" {
  tcp_listener = "127.0.0.1:4000"
}

node "n2" {
  udp_listener = "127.0.0.1:5000"
}

node "both" {
  tcp_listener = "127.0.0.1:4100"
  udp_listener = "127.0.0.1:4100"
}

node "n1" {}
`

// A UDP hop is walked like a TCP one, and the hop says its transport.
func TestWalkUDPBridge(t *testing.T) {
	src := udpTopology + `
check "bridge" {
  from = node.n1
  to   = "/node/n2/udp/node/n3/service/uppercase"
  send = "x"
}
check "by socket" {
  from = node.n1
  to   = "/ip4/127.0.0.1/udp/5000/node/n3/tcp/service/echo"
  send = "x"
}
check "both, named" {
  from = node.n1
  to   = "/node/both/udp/node/both/tcp/service/echo"
  send = "x"
}
`
	top, got := load(t, src)
	if len(got) != 0 {
		t.Fatalf("diagnostics: %v", got)
	}
	var lines []string
	for _, c := range top.Checks {
		for _, h := range c.Hops {
			lines = append(lines, h.Describe())
		}
	}
	want := []string{
		"n1 -> n2  udp datagrams to 127.0.0.1:5000",
		"n2 -> n3  tcp connection to 127.0.0.1:4000",
		"n3  uppercase answers",
		"n1 -> n2  udp datagrams to 127.0.0.1:5000",
		"n2 -> n3  tcp connection to 127.0.0.1:4000",
		"n3  echo answers",
		"both -> both  udp datagrams to 127.0.0.1:4100",
		"both -> both  tcp connection to 127.0.0.1:4100",
		"both  echo answers",
	}
	want[6] = "n1 -> both  udp datagrams to 127.0.0.1:4100"
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hops:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// Each UDP hop adds two addresses to the return route.
	if n := returnLength(top.Checks[0].Hops); n != 4 {
		t.Fatalf("return route of the bridge: %d addresses, want 4", n)
	}
}

func TestWalkUDPErrors(t *testing.T) {
	src := udpTopology + `
check "a" {
  from = node.n1
  to   = "/node/both/service/echo" # ERROR: Ambiguous hop
  send = "x"
}
check "b" {
  from = node.n1
  to   = "/node/n2/service/echo" # ERROR: Hop does not name its transport
  send = "x"
}
check "c" {
  from = node.n1
  to   = "/node/n3/udp/service/echo" # ERROR: Node does not listen on UDP
  send = "x"
}
check "d" {
  from = node.n1
  to   = "/node/n2/tcp/service/echo" # ERROR: Node does not listen
  send = "x"
}
check "e" {
  from = node.n1
  to   = "/node/n3/ip4/10.0.0.1/udp/53/service/echo" # ERROR: Node will not send for the network
  send = "x"
}
node "n5" {
  relay "r" {
    at = node.n2 # ERROR: Relay at a node that does not listen
  }
}
node "n6" {
  udp_listener = "127.0.0.1:5000" # ERROR: Port clash
}
node "n7" {
  tcp_listener = "127.0.0.1:5000"
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

// Running a subset of the nodes: a remote node a UDP hop reaches needs a
// udp_listener with a fixed port.
func TestSubsetUDP(t *testing.T) {
	src := `
node "n2" {
  udp_listener = "127.0.0.1:0"
}
node "n3" {
  udp_listener = "127.0.0.1:5003"
}
node "n1" {}
check "a" {
  from = node.n1
  to   = "/node/n2/udp/service/echo"
  send = "x"
}
check "b" {
  from = node.n1
  to   = "/node/n3/udp/service/echo"
  send = "x"
}
`
	top, got := load(t, src)
	if len(got) != 0 {
		t.Fatalf("diagnostics: %v", got)
	}
	_, diags := top.Subset([]string{"n1"})
	if len(diags) != 1 || diags[0].Summary != "Remote node without a fixed port" || !strings.Contains(diags[0].Detail, `"n2"`) || !strings.Contains(diags[0].Detail, "udp_listener") {
		t.Fatalf("diagnostics: %v", diags)
	}
}
