package runtime

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
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
	return HostSockets{}.Listen(ctx, network, address)
}

func (s *recordingSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	s.record("dial " + network + " " + address)
	return HostSockets{}.Dial(ctx, network, address)
}

func (s *recordingSockets) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	s.record("listenpacket " + network + " " + address)
	return HostSockets{}.ListenPacket(ctx, network, address)
}

// A node's listener, its dials and its outlet's dials come from its
// Sockets (where a node in a network namespace has them made); its
// inlet's listener does not: an inlet binds in the host's namespace.
func TestNodeSockets(t *testing.T) {
	target := serveTCP(t, echoServer)
	var sa, sb recordingSockets
	a, _ := testNode(t, "a", Options{Sockets: &sa})
	b, _ := testNode(t, "b", Options{Sockets: &sb})
	l, err := a.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartOutlet("outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	route := routing.Route{routing.TCPAddress(l.Addr()), routing.LocalAddress("outlet")}
	in, err := b.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{})
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

// SocketsIn makes every socket inside its enter function, and says when
// enter fails.
func TestSocketsIn(t *testing.T) {
	entered := 0
	s := SocketsIn(func(f func() error) error { entered++; return f() })
	ln, err := s.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := s.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	pc, err := s.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
	if entered != 3 {
		t.Errorf("entered %d times, want 3", entered)
	}
	failing := SocketsIn(func(func() error) error { return ErrNodeClosed })
	if _, err := failing.Dial(context.Background(), "tcp", ln.Addr().String()); err == nil {
		t.Error("a dial whose enter failed succeeded")
	}
}
