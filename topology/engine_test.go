package topology

import (
	"strings"
	"testing"

	"github.com/ockamtop/ockamtop/schema"
)

func loadEngine(t *testing.T, src string) (*Topology, string) {
	t.Helper()
	top, _, diags := Load("engine.hcl", []byte(src), schema.Overrides{Engine: true})
	var errs []string
	for _, d := range diags {
		errs = append(errs, d.Summary+": "+d.Detail)
	}
	return top, strings.Join(errs, "\n")
}

// On an engine the seeds' portal binds all interfaces in each container
// and walks to each node by its name, on the engine network they share.
func TestEngineWalk(t *testing.T) {
	top, errs := loadEngine(t, bridgeNetworks+`
node "n4" {
  udp_listener = "127.0.0.1:5000"
  tcp_inlet "web" {
    from = "127.0.0.1:6000"
    to   = "/node/n5/udp/service/web"
  }
}
node "n5" {
  udp_listener = "127.0.0.1:5000"
  tcp_outlet "web" { to = "web:80" }
}
check "bridge" {
  from = node.n1
  to   = "/node/n2/node/n3/service/echo"
  send = "hi"
}
`)
	if top == nil {
		t.Fatal(errs)
	}
	if l := top.Node("n2").Listener; l != "0.0.0.0:7000" {
		t.Errorf("n2 binds %s", l)
	}
	if len(top.Node("n2").Interfaces) != 0 {
		t.Error("a node on an engine network has an interface of ours")
	}
	hops := top.Checks[0].Hops
	if hops[0].Address != "n2:7000" || hops[0].Network != "office" || hops[1].Address != "n3:7000" || hops[1].Network != "factory" {
		t.Errorf("hops %+v", hops)
	}
	in := top.Node("n4").Inlets[0]
	if in.From != "0.0.0.0:6000" || in.Hops[0].Address != "n5:5000" || in.Hops[0].Transport != "udp" {
		t.Errorf("inlet from %s, hops %+v", in.From, in.Hops)
	}
}

// What an engine cannot run is refused before anything is written, at the
// attribute: a port picked at run time, an outlet to a container's own
// loopback that nothing serves, two inlets on one host port, two sockets
// of one container on one port, a route between engine networks.
func TestEngineRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"port 0", `node "n2" { tcp_listener = "127.0.0.1:0" }`, "Port picked at run time"},
		{"inlet port 0", `node "n2" {
  tcp_inlet "web" {
    from = "127.0.0.1:0"
    to   = "/service/echo"
  }
}`, "Port picked at run time"},
		{"loopback outlet", `node "n3" {
  tcp_outlet "web" { to = "127.0.0.1:9000" }
}`, "Outlet target outside the container"},
		{"published twice", `node "n1" {
  tcp_inlet "a" {
    from = "127.0.0.1:6000"
    to   = "/service/echo"
  }
}
node "n2" {
  tcp_inlet "b" {
    from = "127.0.0.2:6000"
    to   = "/service/echo"
  }
}`, "Port published twice"},
		{"one container, one port", `node "n2" {
  tcp_listener = "127.0.0.1:7000"
  tcp_inlet "b" {
    from = "127.0.0.1:7000"
    to   = "/service/echo"
  }
}`, "Port clash"},
		{"across networks", `network "a" {}
network "b" {}
node "n1" { networks = [network.a] }
node "n2" {
  networks     = [network.b]
  tcp_listener = "0.0.0.0:7000"
}
check "c" {
  from = node.n1
  to   = "/node/n2/service/echo"
  send = "hi"
}`, "n1 is on a, n2 is on b"},
		{"default network", `network "a" {}
node "n1" {}
node "n2" {
  networks     = [network.a]
  tcp_listener = "0.0.0.0:7000"
}
check "c" {
  from = node.n1
  to   = "/node/n2/service/echo"
  send = "hi"
}`, "n1 is on default, n2 is on a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, errs := loadEngine(t, tc.src)
			if top != nil || !strings.Contains(errs, tc.want) {
				t.Errorf("got %q, want an error with %q", errs, tc.want)
			}
		})
	}
}

// What a local run refuses and an engine runs: two nodes on one port (each
// in its own container), an outlet to loopback that an exec of its node
// serves.
func TestEngineAllows(t *testing.T) {
	top, errs := loadEngine(t, `
node "n2" { tcp_listener = "127.0.0.1:7000" }
node "n3" {
  tcp_listener = "127.0.0.1:7000"
  tcp_outlet "web" { to = "127.0.0.1:9000" }
  exec "web" {
    command  = ["web", "-addr", "127.0.0.1:9000"]
    wait_for = "127.0.0.1:9000"
  }
}
`)
	if top == nil {
		t.Fatal(errs)
	}
	if _, _, diags := Load("local.hcl", []byte(`
node "n2" { tcp_listener = "127.0.0.1:7000" }
node "n3" { tcp_listener = "127.0.0.1:7000" }
`), schema.Overrides{}); !diags.HasErrors() {
		t.Error("a local run takes two listeners on one port")
	}
}
