package observe

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// A UDP portal is measured: a datagram there and back counts a flow and
// a datagram each way at the inlet and the outlet, and the live graph
// shows both ends up with their flow.
func TestUDPPortalMetrics(t *testing.T) {
	t.Parallel()
	target, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { target.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := target.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_, _ = target.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	})
	run := start(t, `
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
	c, err := net.Dial("udp", run.UDPInlets()["n1.dns"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := false
	for try := 0; try < 5 && !answered; try++ { // a datagram may be lost, as UDP's are
		if _, err := c.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 64))
		answered = err == nil
	}
	if !answered {
		t.Fatal("no answer through the UDP portal")
	}
	url := serve(t, run)
	for _, labels := range []map[string]string{
		{"node": "n1", "inlet": "dns"},
		{"node": "n2", "outlet": "dns"},
	} {
		eventuallyMetric(t, url, "ockamtop_udp_portal_flows_open", labels, "1", func(v float64) bool { return v == 1 })
		for _, dir := range []string{"in", "out"} {
			l := map[string]string{"direction": dir}
			for k, v := range labels {
				l[k] = v
			}
			eventuallyMetric(t, url, "ockamtop_udp_portal_datagrams_total", l, "at least 1", func(v float64) bool { return v >= 1 })
			eventuallyMetric(t, url, "ockamtop_udp_portal_bytes_total", l, "at least 5", func(v float64) bool { return v >= 5 })
		}
	}
	families := scrape(t, url)
	for _, p := range []map[string]string{
		{"node": "n1", "kind": "udp_inlet", "name": "dns"},
		{"node": "n2", "kind": "udp_outlet", "name": "dns"},
	} {
		if v := mustValue(t, families, "ockamtop_part_up", p); v != 1 {
			t.Errorf("part_up %v = %v", p, v)
		}
	}
	live := LiveGraph(run)
	ends := 0
	for _, e := range live.Ends {
		if e.UDP && e.State == StateUp && e.Streams == 1 {
			ends++
		}
	}
	if ends != 2 {
		t.Errorf("live graph: %d UDP ends up with their flow, want 2: %+v", ends, live.Ends)
	}
}
