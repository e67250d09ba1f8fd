package runtime_test

import (
	"context"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
)

// SocketsIn makes every socket inside its enter function, and says when
// enter fails.
func TestSocketsIn(t *testing.T) {
	entered := 0
	s := runtime.SocketsIn(func(f func() error) error { entered++; return f() })
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
	failing := runtime.SocketsIn(func(func() error) error { return runtime.ErrNodeClosed })
	if _, err := failing.Dial(context.Background(), "tcp", ln.Addr().String()); err == nil {
		t.Error("a dial whose enter failed succeeded")
	}
}
