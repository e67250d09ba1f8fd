package topology

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// The seeds' bridge on networks: n1 on office, n2 on both, n3 on factory.
const bridgeNetworks = `
network "office" {}
network "factory" {}

node "n1" {
  networks = [network.office]
}
node "n2" {
  networks     = [network.office, network.factory]
  tcp_listener = "0.0.0.0:7000"
}
node "n3" {
  networks     = [network.factory]
  tcp_listener = "0.0.0.0:7000"
}
`

func addresses(top *Topology) map[string]string {
	out := map[string]string{}
	for _, n := range top.Nodes {
		for _, i := range n.Interfaces {
			out[n.Name+"/"+i.Network.Name] = i.Name + " " + i.Address.String()
		}
	}
	return out
}

func TestNetworkAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want map[string]string
	}{
		{"defaults in order", bridgeNetworks, map[string]string{
			"n1/office":  "office 198.18.0.1/24",
			"n2/office":  "office 198.18.0.2/24",
			"n2/factory": "factory 198.18.1.1/24",
			"n3/factory": "factory 198.18.1.2/24",
		}},
		{"a subnet overrides, and the defaults go round it", `
network "a" {}
network "b" {
  subnet = "198.18.0.0/23"
}
network "c" {
  subnet = "10.9.8.0/30"
}
node "x" {
  networks = [network.a, network.b, network.c]
}
node "y" {
  networks = [network.c, network.a]
}
`, map[string]string{
			"x/a": "a 198.18.2.1/24",
			"x/b": "b 198.18.0.1/23",
			"x/c": "c 10.9.8.1/30",
			"y/c": "c 10.9.8.2/30",
			"y/a": "a 198.18.2.2/24",
		}},
		{"a name too long for an interface", `
network "a_network_with_a_long_name" {}
network "eth0" {}
node "x" {
  networks = [network.a_network_with_a_long_name, network.eth0]
}
`, map[string]string{
			"x/a_network_with_a_long_name": "eth1 198.18.0.1/24",
			"x/eth0":                       "eth0 198.18.1.1/24",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, diags := load(t, tc.src)
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			if got := addresses(top); !maps.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestNetworkRules(t *testing.T) {
	src := bridgeNetworks + `
network "lab" {
  subnet = "10.1.0.0/16"
}
network "lab2" {
  subnet = "10.1.2.0/24" # ERROR: Overlapping subnets
}
network "tiny" { # ERROR: Network too small
  subnet = "10.0.0.0/30"
}
node "t1" {
  networks = [network.tiny]
}
node "t2" {
  networks = [network.tiny]
}
node "t3" {
  networks = [network.tiny]
}
node "t4" {
  networks = [network.ofice] # ERROR: Reference to undeclared network
}
node "lo" {
  networks     = [network.office]
  tcp_listener = "127.0.0.1:7001" # ERROR: Listener outside the node's networks
}
node "h" {
  tcp_listener = "127.0.0.1:7000"
  relay "h" {
    at = node.n3 # ERROR: Nodes share no network
  }
}
node "n4" {
  networks = [network.factory]
  relay "n4" {
    at = node.n2
  }
}
check "direct" {
  from = node.n1
  to   = "/node/n3/service/echo" # ERROR: Nodes share no network
  send = "x"
}
check "from the host" {
  from = node.h
  to   = "/node/n2/service/echo" # ERROR: Nodes share no network
  send = "x"
}
check "bridge" {
  from = node.n1
  to   = "/node/n2/node/n3/service/echo"
  send = "x"
}
check "relay" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n4/service/echo"
  send = "x"
}
check "socket of an isolated node" {
  from = node.n2
  to   = "/ip4/198.18.1.2/tcp/7000/service/echo"
  send = "x"
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

// Mistakes in the blocks themselves, found when the file is decoded.
func TestNetworkDecodeErrors(t *testing.T) {
	src := `
network "bad" {
  subnet = "10.0.0.1/24" # ERROR: Invalid subnet
}
network "v6" {
  subnet = "fd00::/64" # ERROR: Invalid subnet
}
network "huge" {
  subnet = "10.0.0.0/31" # ERROR: Invalid subnet
}
network "a" {}
node "x" {
  networks = [network.a, network.a] # ERROR: Duplicate network in list
}
node "y" {
  networks = ["a"] # ERROR: Quoted reference
}
node "z" {
  networks = network.a # ERROR: Invalid reference list
  exec "e" {
    command = [] # ERROR: Empty command
  }
  exec "f" {
    command  = ["true"]
    wait_for = "localhost" # ERROR: Invalid socket address
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

func TestNetworkBridgeHops(t *testing.T) {
	top, diags := load(t, bridgeNetworks+`
check "bridge" {
  from = node.n1
  to   = "/node/n2/node/n3/service/uppercase"
  send = "x"
}
`)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var got []string
	for _, h := range top.Checks[0].Hops {
		got = append(got, h.Describe())
	}
	want := []string{
		"n1 -> n2  tcp connection to 198.18.0.2:7000 on office",
		"n2 -> n3  tcp connection to 198.18.1.2:7000 on factory",
		"n3  uppercase answers",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// The message of the issue, and a hint when a node bridges the two.
func TestNetworkUnreachableMessage(t *testing.T) {
	top, diags := load(t, bridgeNetworks)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	_, err := top.Node("n1").PathTo(top.Node("n3"))
	const want = "n1 is on office, n3 is on factory; reach n3 through a node on both, or a relay"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	d := top.unreachable(top.Nodes[0].Decl.DeclRange, top.Node("n1"), top.Node("n3"), err)
	if !strings.Contains(d.Detail, `Node "n2" is on both: /node/n2/node/n3.`) {
		t.Errorf("no bridge hint: %s", d.Detail)
	}
}

// Isolated nodes bind their listeners in namespaces of their own: the same
// port on two of them is no clash, nor with a host node or an inlet.
func TestNetworkPortsPerNamespace(t *testing.T) {
	_, got := load(t, bridgeNetworks+`
node "h" {
  tcp_listener = "127.0.0.1:7000"
  tcp_inlet "i" {
    from = "0.0.0.0:7001"
    to   = "/node/h/service/outlet"
  }
  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }
}
`)
	if len(got) > 0 {
		t.Fatal(got)
	}
}

func TestNetworkSubset(t *testing.T) {
	top, diags := load(t, bridgeNetworks)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if _, d := top.Subset([]string{"n1", "n2", "n3"}); d.HasErrors() {
		t.Errorf("all of them: %v", d)
	}
	_, d := top.Subset([]string{"n1"})
	if !d.HasErrors() || !strings.Contains(d.Error(), `--node runs n1 here but not n2, all on network "office"`) {
		t.Errorf("n1 alone: %v", d)
	}
}

func TestNetworkPlanJSON(t *testing.T) {
	top, diags := load(t, bridgeNetworks)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	p := top.Plan()
	if len(p.Networks) != 2 || p.Networks[1].Subnet != "198.18.1.0/24" || !slices.Equal(p.Networks[1].Nodes, []string{"n2", "n3"}) {
		t.Errorf("networks %+v", p.Networks)
	}
	for _, n := range p.Nodes {
		if n.Name == "n2" && (len(n.Interfaces) != 2 || n.Interfaces[1].Address != "198.18.1.1/24") {
			t.Errorf("n2 interfaces %+v", n.Interfaces)
		}
	}
}
