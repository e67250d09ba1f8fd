package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// relayOptionsForTests check the relays often, so that round trips show
// at once.
var relayOptionsForTests = relay.Options{PingInterval: 50 * time.Millisecond}

// syncBuffer is a log sink the nodes write to from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start plans src and starts the nodes named (all when none), stopped
// when the test ends.
func start(t *testing.T, src string, nodes ...string) *deploy.Running {
	t.Helper()
	topo, _, diags := topology.Load("test.hcl", []byte(src), schema.Overrides{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	local, diags := topo.Subset(nodes)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	logs := &syncBuffer{}
	run, err := deploy.Start(t.Context(), topo, local, deploy.StartOptions{
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: logs}),
		Relay:  relayOptionsForTests,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		run.Stop()
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	return run
}

// serve serves run's handler on a test server.
func serve(t *testing.T, run *deploy.Running) string {
	t.Helper()
	h, err := Handler(run, Options{Status: func(context.Context) any { return run.Status() }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveTCP runs handle for every connection to a new loopback listener
// until the test ends, and closes the connection after it.
func serveTCP(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return ln.Addr().String()
}

// echoTarget is a TCP echo server for the outlet, until the test ends.
func echoTarget(t testing.TB) string {
	return serveTCP(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

func relayTopology(target string) string {
	return fmt.Sprintf(`
node "n2" {
  tcp_listener = "127.0.0.1:0"
}
node "n3" {
  service "hop" {}
  relay "n3" {
    at = node.n2
  }
  tcp_outlet "outlet" {
    to = %q
  }
}
node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}
check "uppercase" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
check "wrong" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/echo"
  send   = "hello"
  expect = "HELLO"
}
`, target)
}

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value is the value of the series of family name whose labels include
// want, and whether there is one; several are summed.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func mustValue(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(families, name, want)
	if !ok {
		t.Fatalf("no series %s%v in /metrics", name, want)
	}
	return v
}

// eventuallyMetric scrapes until cond holds for the series' value, or 10 s.
func eventuallyMetric(t *testing.T, url, name string, labels map[string]string, what string, cond func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := value(scrape(t, url), name, labels)
		if cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v: still not %s after 10s", name, labels, v, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The counters move when messages and streams flow, and a relay's
// reconnect shows.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	run := start(t, relayTopology(echoTarget(t)))
	results := run.RunChecks(t.Context())
	if len(results) != 2 || !results[0].OK || results[1].OK {
		t.Fatalf("check results %+v, want the first to pass and the second to fail", results)
	}
	url := serve(t, run)

	before := scrape(t, url)
	n1 := map[string]string{"node": "n1"}
	routed := mustValue(t, before, "ockamtop_messages_routed_total", n1)
	inletLabels := map[string]string{"node": "n1", "inlet": "web"}
	if v := mustValue(t, before, "ockamtop_portal_streams_total", inletLabels); v != 0 {
		t.Fatalf("streams before any client: %v", v)
	}
	if v := mustValue(t, before, "ockamtop_check_ok", map[string]string{"check": "uppercase", "node": "n1"}); v != 1 {
		t.Errorf("check_ok of a passed check = %v", v)
	}
	if v := mustValue(t, before, "ockamtop_check_ok", map[string]string{"check": "wrong"}); v != 0 {
		t.Errorf("check_ok of a failed check = %v", v)
	}
	if v := mustValue(t, before, "ockamtop_relay_up", map[string]string{"node": "n3", "relay": "n3", "at": "n2"}); v != 1 {
		t.Errorf("relay_up = %v", v)
	}
	for _, p := range []map[string]string{
		{"node": "n3", "kind": "relay", "name": "n3"},
		{"node": "n2", "kind": "tcp_listener", "name": "n2"},
		{"node": "n1", "kind": "tcp_inlet", "name": "web"},
	} {
		if v := mustValue(t, before, "ockamtop_part_up", p); v != 1 {
			t.Errorf("part_up %v = %v", p, v)
		}
	}

	// Messages: ten echoes through the relay.
	n1node := run.Node("n1")
	route := routing.Route{routing.TCPAddress(run.ListenerOf("n2")), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("echo")}
	for range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if _, err := n1node.SendAndReceive(ctx, route, wire.EncodeString("hi")); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	// A stream: 100 KiB there and back through the portal.
	const size = 100 << 10
	c, err := net.Dial("tcp", run.Inlets()["n1.web"])
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Write(bytes.Repeat([]byte("x"), size)) }()
	if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	// Each echo is routed twice at n1: to the connection, and its reply to
	// the inbox (counted once delivered: maybe after the reply was read).
	eventuallyMetric(t, url, "ockamtop_messages_routed_total", n1, fmt.Sprintf("%v + 20", routed), func(v float64) bool { return v >= routed+20 })
	after := scrape(t, url)
	if v := mustValue(t, after, "ockamtop_portal_streams_open", inletLabels); v != 1 {
		t.Errorf("streams open = %v, want 1", v)
	}
	if v := mustValue(t, after, "ockamtop_portal_streams_total", inletLabels); v != 1 {
		t.Errorf("streams total = %v, want 1", v)
	}
	// A write is counted once it returns, which may be after its reader
	// has the bytes: the last counts may come a moment after the data.
	for _, dir := range []string{"in", "out"} {
		for _, labels := range []map[string]string{
			{"node": "n1", "inlet": "web", "direction": dir},
			{"node": "n3", "outlet": "outlet", "direction": dir},
		} {
			eventuallyMetric(t, url, "ockamtop_portal_bytes_total", labels, fmt.Sprint(size), func(v float64) bool { return v == size })
		}
		eventuallyMetric(t, url, "ockamtop_connection_bytes_total", map[string]string{"node": "n1", "direction": dir},
			fmt.Sprintf("at least %d", size), func(v float64) bool { return v >= size })
	}
	if v := mustValue(t, after, "ockamtop_connections_open", map[string]string{"node": "n2", "transport": "tcp"}); v != 2 {
		t.Errorf("n2 open connections = %v, want 2 (n1's and the relay's)", v)
	}
	c.Close()
	eventuallyMetric(t, url, "ockamtop_portal_streams_open", inletLabels, "0 once the client closed", func(v float64) bool { return v == 0 })

	// Drops: a message to no worker at n2.
	if err := n1node.Send(t.Context(), routing.Message{Onward: routing.Route{routing.TCPAddress(run.ListenerOf("n2")), routing.LocalAddress("nobody")}}); err != nil {
		t.Fatal(err)
	}
	eventuallyMetric(t, url, "ockamtop_messages_dropped_total", map[string]string{"node": "n2", "reason": "no_worker"}, "1", func(v float64) bool { return v == 1 })

	// The relay's round trip, then a reconnect: its connection is cut.
	relay := map[string]string{"node": "n3", "relay": "n3"}
	eventuallyMetric(t, url, "ockamtop_relay_round_trip_seconds", relay, "observed", func(v float64) bool { return v > 0 })
	if v := mustValue(t, scrape(t, url), "ockamtop_relay_reconnects_total", relay); v != 0 {
		t.Fatalf("reconnects before any failure = %v", v)
	}
	st := run.Parts().Relays[0].Relay.Status()
	for _, conn := range run.Node("n3").Transports().Connections() {
		if conn.Address().Value == st.Connection {
			conn.Close()
		}
	}
	eventuallyMetric(t, url, "ockamtop_relay_registrations_total", relay, "2 after the reconnect", func(v float64) bool { return v == 2 })
	if v := mustValue(t, scrape(t, url), "ockamtop_relay_reconnects_total", relay); v != 1 {
		t.Errorf("reconnects = %v, want 1", v)
	}
}

// /api/status is the status JSON; /api/graph the graph with live state.
func TestAPI(t *testing.T) {
	t.Parallel()
	run := start(t, relayTopology(echoTarget(t)))
	url := serve(t, run)
	var st deploy.Status
	getJSON(t, url+"/api/status", &st)
	if len(st.Nodes) != 3 || st.Nodes[1].Name != "n3" || st.Nodes[1].Relays[0].State != "up" {
		t.Fatalf("status %+v", st)
	}
	var live Live
	getJSON(t, url+"/api/graph", &live)
	if len(live.Nodes) != 3 || len(live.Ends) != 2 {
		t.Fatalf("graph %+v", live)
	}
	kinds := map[string]string{}
	for _, e := range live.Edges {
		kinds[e.Kind+" "+e.From+"->"+e.To] = e.State
	}
	want := map[string]string{"relay n3->n2": StateUp, "forward n2->n3": StateUp, "tcp n1->n2": StateIdle}
	for k, v := range want {
		if kinds[k] != v {
			t.Errorf("edge %s is %q, want %q (edges %v)", k, kinds[k], v, kinds)
		}
	}
	// A route opens n1's connection to n2: the edge is up, with traffic.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := run.Send(ctx, "n1", "/node/n2/service/echo", wire.EncodeString("hi")); err != nil {
		t.Fatal(err)
	}
	getJSON(t, url+"/api/graph", &live)
	for _, e := range live.Edges {
		if e.Kind == topology.EdgeConnection && e.From == "n1" && e.To == "n2" && (e.State != StateUp || e.Bytes == 0) {
			t.Errorf("edge n1 -> n2 after an echo: %+v", e)
		}
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<script src="live.js">`) {
		t.Errorf("the page has no script:\n%s", page)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// The UDP transport's counters are metrics: a check over a UDP hop moves
// the datagrams and messages of both nodes.
func TestUDPMetrics(t *testing.T) {
	t.Parallel()
	run := start(t, `
node "n2" {
  udp_listener = "127.0.0.1:0"
}
node "n1" {}
check "over udp" {
  from   = node.n1
  to     = "/node/n2/udp/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
`)
	if results := run.RunChecks(t.Context()); len(results) != 1 || !results[0].OK {
		t.Fatalf("check results %+v", results)
	}
	families := scrape(t, serve(t, run))
	for _, node := range []string{"n1", "n2"} {
		for _, dir := range []string{"in", "out"} {
			labels := map[string]string{"node": node, "transport": "udp", "direction": dir}
			if v := mustValue(t, families, "ockamtop_transport_packets_total", labels); v < 1 {
				t.Errorf("datagrams %v = %v", labels, v)
			}
			if v := mustValue(t, families, "ockamtop_transport_messages_total", labels); v < 1 {
				t.Errorf("messages %v = %v", labels, v)
			}
		}
		if v := mustValue(t, families, "ockamtop_transport_dropped_total", map[string]string{"node": node, "transport": "udp", "reason": "expired"}); v != 0 {
			t.Errorf("%s: expired = %v", node, v)
		}
		if v := mustValue(t, families, "ockamtop_transport_peers", map[string]string{"node": node, "transport": "udp"}); v != 1 {
			t.Errorf("%s: peers = %v", node, v)
		}
	}
}

// Secure channels are measured: a check through one counts a handshake
// on each side and the messages each way.
func TestSecureChannelMetrics(t *testing.T) {
	t.Parallel()
	run := start(t, `
node "n2" {
  tcp_listener = "127.0.0.1:0"
  secure_channel_listener "api" {}
}
node "n1" {}
check "secure" {
  from   = node.n1
  to     = "/node/n2/secure/api/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
`)
	if results := run.RunChecks(t.Context()); len(results) != 1 || !results[0].OK {
		t.Fatalf("check results %+v", results)
	}
	families := scrape(t, serve(t, run))
	for _, node := range []string{"n1", "n2"} {
		if v := mustValue(t, families, "ockamtop_secure_channel_handshakes_total", map[string]string{"node": node, "result": "completed"}); v != 1 {
			t.Errorf("%s: handshakes completed = %v", node, v)
		}
		if v := mustValue(t, families, "ockamtop_secure_channel_handshakes_total", map[string]string{"node": node, "result": "refused"}); v != 0 {
			t.Errorf("%s: handshakes refused = %v", node, v)
		}
		for _, dir := range []string{"in", "out"} {
			if v := mustValue(t, families, "ockamtop_secure_channel_messages_total", map[string]string{"node": node, "direction": dir}); v < 1 {
				t.Errorf("%s: messages %s = %v", node, dir, v)
			}
		}
		if v := mustValue(t, families, "ockamtop_secure_channels_open", map[string]string{"node": node}); v != 1 {
			t.Errorf("%s: open channels = %v", node, v)
		}
		mustValue(t, families, "ockamtop_secure_channel_decrypt_failures_total", map[string]string{"node": node})
		mustValue(t, families, "ockamtop_secure_channel_rekeys_total", map[string]string{"node": node})
	}
}
