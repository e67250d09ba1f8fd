package deploy

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// An inlet's max_streams reaches the runtime: with a limit of one, a second
// client is refused while the first stream is open.
func TestInletMaxStreams(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	done := make(chan struct{})
	defer func() { echo.Close(); <-done }()
	go func() {
		defer close(done)
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	topo := load(t, `
node "n1" {
  tcp_outlet "out" { to = "`+echo.Addr().String()+`" }
  tcp_inlet "in" {
    from        = "127.0.0.1:0"
    to          = "/service/out"
    max_streams = 1
  }
}
`)
	run, err := Start(context.Background(), topo, map[string]bool{"n1": true}, StartOptions{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	addr := run.Inlets()["n1.in"]
	roundTrip := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := roundTrip(first); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := roundTrip(second); err == nil {
		t.Fatal("a second stream crossed an inlet with max_streams = 1")
	}
}
