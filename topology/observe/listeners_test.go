package observe

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/topology"
)

// A node's other TCP listeners are on the live graph with their bound
// ports, up in the metrics, and a connection to one of them is the edge
// to its node.
func TestLiveTCPListeners(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	other := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(other)
	route := fmt.Sprintf("/ip4/%s/tcp/%s/service/echo", host, port)
	run := start(t, fmt.Sprintf(`
node "n2" {
  tcp_listener  = "127.0.0.1:0"
  tcp_listeners = [%q]
}

node "n1" {}

check "through the other listener" {
  from = node.n1
  to   = %q
  send = "hi"
}
`, other, route))
	url := serve(t, run)
	if v := mustValue(t, scrape(t, url), "ockamtop_part_up", map[string]string{"node": "n2", "kind": "tcp_listeners", "name": other}); v != 1 {
		t.Errorf("part_up of the other listener = %v", v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := run.Send(ctx, "n1", route, wire.EncodeString("hi")); err != nil {
		t.Fatal(err)
	}
	var live Live
	getJSON(t, url+"/api/graph", &live)
	for _, n := range live.Nodes {
		if n.Name == "n2" && !slices.Equal(n.TCPListeners, []string{other}) {
			t.Errorf("n2 on the live graph: %+v", n)
		}
	}
	up := false
	for _, e := range live.Edges {
		if e.Kind == topology.EdgeConnection && e.From == "n1" && e.To == "n2" {
			up = e.State == StateUp && e.Bytes > 0
		}
	}
	if !up {
		t.Errorf("no edge n1 -> n2 up with traffic after an echo through n2's other listener: %+v", live.Edges)
	}
}
