package ockam

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"strings"
	"testing"
)

// twoListeners is a session whose n2 listens on its own address and on
// one that tcp-listener create added.
func twoListeners() *Session {
	return &Session{Default: "n1", Nodes: []*Node{
		{Name: "n1", Listener: "127.0.0.1:7001"},
		{Name: "n2", Listener: "127.0.0.1:7002", TCPListeners: []TCPListener{
			{Address: "d59c01ab8d9683f8c454df746e627b43", SocketAddr: "127.0.0.1:7012", FlowControl: "ab"},
		}},
	}}
}

func TestFindListener(t *testing.T) {
	t.Parallel()
	n := twoListeners().Nodes[1]
	own := listeners(n)[0].Address
	if len(own) != 32 || own != listeners(n)[0].Address || own == derivedHex("listener", twoListeners().Nodes[0]) {
		t.Errorf("the own listener's internal address %q: not 32 hex digits, not stable, or not the node's", own)
	}
	for in, want := range map[string]int{
		"d59c01ab8d9683f8c454df746e627b43":   1,
		"0#d59c01ab8d9683f8c454df746e627b43": 1,
		"127.0.0.1:7012":                     1,
		"localhost:7012":                     1,
		"/ip4/127.0.0.1/tcp/7012":            1,
		"127.0.0.1:7002":                     0,
		"0#" + own:                           0,
		"127.0.0.1:7003":                     -1,
		"d59c01ab":                           -1,
	} {
		if got := findListener(n, in); got != want {
			t.Errorf("findListener(%q) = %d, want %d", in, got, want)
		}
	}
}

// --output json has the field names of Ockam's TransportStatus.
func TestListenerJSON(t *testing.T) {
	t.Parallel()
	n := twoListeners().Nodes[1]
	b, err := json.Marshal(n.TCPListeners[0].out(n))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "Tcp", "mode": "Listen", "socket_addr": "127.0.0.1:7012", "worker_addr": "<none>",
		"processor_address": "0#d59c01ab8d9683f8c454df746e627b43", "flow_control_id": "ab", "node": "n2", "own": false, "route": "/ip4/127.0.0.1/tcp/7012"}
	if !maps.Equal(got, want) {
		t.Errorf("JSON\n got %v\nwant %v", got, want)
	}
	if got := listeners(n)[0].out(n); !got.Own || got.String() != "TCP, Listening at 127.0.0.1:7002" {
		t.Errorf("the own listener: %+v, %q", got, got)
	}
}

func TestSessionListeners(t *testing.T) {
	t.Parallel()
	s := twoListeners()
	if n, at, own := s.listenerAt("localhost:7012"); n == nil || n.Name != "n2" || at != "127.0.0.1:7012" || own {
		t.Errorf("listenerAt(localhost:7012) = %v, %q, %v", n, at, own)
	}
	if n, _, own := s.listenerAt("127.0.0.1:7002"); n == nil || n.Name != "n2" || !own {
		t.Errorf("listenerAt(127.0.0.1:7002) = %v, %v", n, own)
	}
	// A connection to it names the socket, so that it goes there; one to
	// the node's own listener names the node.
	if got := (Connection{To: "127.0.0.1:7012", Node: "n2", Other: true}).route(); got != "/ip4/127.0.0.1/tcp/7012" {
		t.Errorf("route to the other listener %q", got)
	}
	if got := (Connection{To: "127.0.0.1:7002", Node: "n2"}).route(); got != "/node/n2" {
		t.Errorf("route to the own listener %q", got)
	}
	hcl := string(s.HCL(""))
	if !strings.Contains(hcl, "  tcp_listener  = \"127.0.0.1:7002\"\n  tcp_listeners = [\"127.0.0.1:7012\"]\n") {
		t.Errorf("HCL:\n%s", hcl)
	}
	top, err := planHCL("session.hcl", []byte(hcl))
	if err != nil {
		t.Fatal(err)
	}
	if got := top.Node("n2").TCPListeners; len(got) != 1 || got[0] != "127.0.0.1:7012" {
		t.Errorf("planned: %v", got)
	}
	if y := string(s.YAML()); !strings.Contains(y, "# Left out (no section for it): ockam tcp-listener create 127.0.0.1:7012 --at n2\n") {
		t.Errorf("YAML:\n%s", y)
	}
}

func TestListenerAddress(t *testing.T) {
	t.Parallel()
	s := twoListeners()
	picked, err := listenerAddress(s, "127.0.0.1:0")
	if err != nil || strings.HasSuffix(picked, ":0") || !strings.HasPrefix(picked, "127.0.0.1:") {
		t.Errorf("port 0: %q, %v", picked, err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for addr, want := range map[string]string{
		"127.0.0.1:7012":     "Unable to listen on 127.0.0.1:7012: the node n2 listens there already",
		"localhost:7001":     "Unable to listen on localhost:7001: the node n1 listens there already",
		busy.Addr().String(): "Unable to listen on " + busy.Addr().String() + ": the address is in use",
	} {
		_, err := listenerAddress(s, addr)
		var ce *cmdError
		if !errors.As(err, &ce) || !strings.Contains(ce.msg, want) {
			t.Errorf("listenerAddress(%q) = %v, want %q", addr, err, want)
		}
	}
	for addr, want := range map[string]string{
		"127.0.0.1:5000": "/dnsaddr/localhost/tcp/5000",
		"0.0.0.0:5000":   "/dnsaddr/localhost/tcp/5000",
		"10.1.2.3:5000":  "/ip4/10.1.2.3/tcp/5000",
	} {
		if got := createdRoute(addr); got != want {
			t.Errorf("createdRoute(%q) = %q, want %q", addr, got, want)
		}
	}
}
