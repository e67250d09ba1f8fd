package topology

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
)

const udpPortalTopology = `
node "n2" {
  tcp_listener = "127.0.0.1:7000"
}

node "n3" {
  relay "n3" {
    at = node.n2
  }
  udp_outlet "dns" {
    to = "127.0.0.1:5353"
  }
  tcp_outlet "web" {
    to = "127.0.0.1:8080"
  }
}
`

// A UDP inlet's route is walked as a TCP inlet's, and ends at a
// udp_outlet; plan, graph and parts show both ends as UDP.
func TestWalkUDPPortal(t *testing.T) {
	src := udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from         = "127.0.0.1:5300"
    to           = "/node/n2/service/forward_to_n3/service/dns"
    idle_timeout = "30s"
  }
  tcp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/web"
  }
}
`
	top, errs := load(t, src)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(top.UDPInlets) != 1 {
		t.Fatalf("%d UDP inlets", len(top.UDPInlets))
	}
	hops := top.UDPInlets[0].Hops
	if last := hops[len(hops)-1]; last.Kind != HopUDPOutlet || last.Type != "127.0.0.1:5353" {
		t.Errorf("the walk ends at %+v, want the udp_outlet", last)
	}
	var b strings.Builder
	if err := top.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"udp_outlet /service/dns -> 127.0.0.1:5353",
		"tcp_outlet /service/web -> 127.0.0.1:8080",
		"udp_inlet dns on 127.0.0.1:5300 -> /node/n2/service/forward_to_n3/service/dns",
		"n3  dns (udp_outlet) -> udp 127.0.0.1:5353",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the plan has no %q:\n%s", want, b.String())
		}
	}
	kinds := map[PartKind]int{}
	for _, p := range top.Parts() {
		kinds[p.Kind]++
	}
	if kinds[PartUDPInlet] != 1 || kinds[PartUDPOutlet] != 1 || kinds[PartOutlet] != 1 || kinds[PartInlet] != 1 {
		t.Errorf("parts by kind: %v", kinds)
	}
	g := top.Graph()
	udpEnds := 0
	for _, e := range g.Ends {
		if e.UDP {
			udpEnds++
		}
	}
	if udpEnds != 2 {
		t.Errorf("the graph has %d UDP ends, want 2: %+v", udpEnds, g.Ends)
	}
}

func TestWalkUDPPortalErrors(t *testing.T) {
	for _, src := range []string{
		udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/web" # ERROR: Route ends at the wrong kind of outlet
  }
}
`, udpPortalTopology + `
node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/dns" # ERROR: Route ends at the wrong kind of outlet
  }
}
`, udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/dnss" # ERROR: Unknown service in route
  }
}
`, udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/echo" # ERROR: Route does not end at an outlet
  }
}
`, udpPortalTopology + `
node "n1" {
  udp_listener = "127.0.0.1:5300"
  udp_inlet "dns" {
    from = "127.0.0.1:5300" # ERROR: Port clash
    to   = "/node/n2/service/forward_to_n3/service/dns"
  }
  udp_inlet "dns2" {
    from = "localhost:5300" # ERROR: Port clash
    to   = "/node/n2/service/forward_to_n3/service/dns"
  }
}
`, udpPortalTopology + `
node "n1" {
  udp_outlet "loop" {
    to = "127.0.0.1:5300" # ERROR: Portal loop
  }
  udp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/service/loop"
  }
}
`, udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from         = "127.0.0.1:5300"
    to           = "/node/n2/service/forward_to_n3/service/dns"
    idle_timeout = "soon" # ERROR: Invalid duration
  }
}
`, udpPortalTopology + `
node "n1" {
  service "dns" {
    type = "echo"
  }
  udp_outlet "dns" { # ERROR: Duplicate address on node
    to = "127.0.0.1:53"
  }
}
`,
	} {
		_, got := load(t, src)
		if want := wantErrors(src); !maps.Equal(got, want) {
			lines := strings.Split(src, "\n")
			var detail []string
			for _, l := range slices.Sorted(maps.Keys(got)) {
				detail = append(detail, lines[l-1]+"  => "+got[l])
			}
			t.Errorf("errors %v, want %v:\n%s", got, want, strings.Join(detail, "\n"))
		}
	}
}

// UDP portals are not exported to a container engine, which publishes
// TCP ports only.
func TestEngineRefusesUDPPortal(t *testing.T) {
	src := udpPortalTopology + `
node "n1" {
  udp_inlet "dns" {
    from = "127.0.0.1:5300"
    to   = "/node/n2/service/forward_to_n3/service/dns"
  }
}
`
	_, _, diags := LoadFiles([]schema.Source{{Filename: "t.hcl", Bytes: []byte(src)}}, schema.Overrides{Engine: true})
	if !slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == "UDP portal on a container engine" }) {
		t.Errorf("diagnostics: %v", diags)
	}
}
