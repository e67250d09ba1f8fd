package deploy

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A UDP portal of a file runs: a datagram to the inlet reaches the
// target through the outlet, over n2's listener, and its reply comes
// back; the status shows the flow at both ends.
func TestUDPPortalRuns(t *testing.T) {
	target, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() { target.Close(); wg.Wait() }()
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := target.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_, _ = target.WriteToUDPAddrPort(append([]byte("re: "), buf[:n]...), from)
			}
		}
	})
	topo := load(t, `
node "n2" {
  tcp_listener = "127.0.0.1:0"
  udp_outlet "dns" { to = "`+target.LocalAddr().String()+`" }
}
node "n1" {
  udp_inlet "dns" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/dns"
  }
}
`)
	run, err := Start(context.Background(), topo, map[string]bool{"n1": true, "n2": true}, StartOptions{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	a, err := net.ResolveUDPAddr("udp", run.UDPInlets()["n1.dns"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	var got string
	for try := 0; try < 5 && got == ""; try++ { // a datagram may be lost, as UDP's are
		if _, err := c.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := c.Read(buf); err == nil {
			got = string(buf[:n])
		}
	}
	if got != "re: query" {
		t.Fatalf("reply %q, want %q", got, "re: query")
	}
	st := run.Status()
	var flowsIn, flowsOut int
	for _, n := range st.Nodes {
		for _, in := range n.UDPInlets {
			flowsIn += in.Flows
		}
		for _, o := range n.UDPOutlets {
			flowsOut += o.Flows
		}
	}
	if flowsIn != 1 || flowsOut != 1 {
		t.Errorf("status shows %d inlet flows and %d outlet flows, want 1 and 1", flowsIn, flowsOut)
	}
}
