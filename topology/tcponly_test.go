package topology

import (
	"os"
	"testing"
)

// An inlet's streams may take large windows only when its whole route is
// TCP between nodes of the file, to an outlet of the file.
func TestInletTCPOnly(t *testing.T) {
	for file, want := range map[string]bool{
		"portal.hcl":        true,
		"secure_portal.hcl": true,
		"udp_bridge.hcl":    false,
	} {
		src, err := os.ReadFile("../examples/" + file)
		if err != nil {
			t.Fatal(err)
		}
		topo := mustLoad(t, string(src))
		for _, n := range topo.Nodes {
			for _, in := range n.Inlets {
				if got := in.TCPOnly(); got != want {
					t.Errorf("%s: inlet %s on %s: TCPOnly %v, want %v", file, in.Name, n.Name, got, want)
				}
			}
		}
	}
	topo := mustLoad(t, `
node "n1" {
  allow = ["somewhere"]
  tcp_inlet "out" {
    from = "127.0.0.1:0"
    to   = "/ip4/127.0.0.1/tcp/9/service/outlet"
  }
}
`)
	if in := topo.Nodes[0].Inlets[0]; in.TCPOnly() {
		t.Errorf("an inlet to a socket outside the file: TCPOnly, hops %+v", in.Hops)
	}
}
