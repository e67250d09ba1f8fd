package portal

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

// recordingSockets makes host sockets and records what it was asked for,
// "listen tcp 127.0.0.1:0".
type recordingSockets struct {
	mu    sync.Mutex
	calls []string
}

func (s *recordingSockets) record(c string) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *recordingSockets) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *recordingSockets) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	s.record("listen " + network + " " + address)
	return runtime.HostSockets{}.Listen(ctx, network, address)
}

func (s *recordingSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	s.record("dial " + network + " " + address)
	return runtime.HostSockets{}.Dial(ctx, network, address)
}

func (s *recordingSockets) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	s.record("listenpacket " + network + " " + address)
	return runtime.HostSockets{}.ListenPacket(ctx, network, address)
}

// A node's listener, its dials and its outlet's dials come from its
// Sockets (where a node in a network namespace has them made); its
// inlet's listener does not: an inlet binds in the host's namespace.
func TestNodeSockets(t *testing.T) {
	target := nodetest.ServeTCP(t, nodetest.EchoServer)
	var sa, sb recordingSockets
	a, _ := nodetest.Node(t, "a", runtime.Options{Sockets: &sa})
	b, _ := nodetest.Node(t, "b", runtime.Options{Sockets: &sb})
	l, err := tcp.Listen(a, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartOutlet(a, "outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	route := routing.Route{routing.TCPAddress(l.Addr()), routing.LocalAddress("outlet")}
	in, err := StartInlet(b, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", in.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("through the portal: %q, %v", buf, err)
	}
	if got, want := sa.got(), []string{"listen tcp 127.0.0.1:0", "dial tcp " + target}; !slices.Equal(got, want) {
		t.Errorf("a's sockets: %q, want %q", got, want)
	}
	if got, want := sb.got(), []string{"dial tcp " + l.Addr()}; !slices.Equal(got, want) {
		t.Errorf("b's sockets: %q, want %q", got, want)
	}
}
