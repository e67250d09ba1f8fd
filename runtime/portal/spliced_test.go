//go:build linux

package portal

import (
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A client that resets in the middle of a download: the chunks still on
// their way to its stream are dropped, and their pipes come back at once,
// not at the next collection.
func TestSplicedStreamResetMidDownload(t *testing.T) {
	source := nodetest.ServeTCP(t, func(c *net.TCPConn) {
		buf := make([]byte, 256<<10)
		rand.Read(buf)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	p := newPortalPathOpts(t, source, InletOptions{Window: LargeWindow})
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 16<<20)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	nodetest.WaitFor(t, "the stream to close", func() bool { return p.inlet.Streams() == 0 && p.outlet.Streams() == 0 })
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
}

// A spliced Payload that reaches a stream that is closing (broken, its
// close on the way) is dropped, and its pipe is given back at once, not
// when a collection finds the message.
func TestSplicedPayloadToAClosingStream(t *testing.T) {
	n, _ := nodetest.Node(t, "n", runtime.Options{})
	_, server := nodetest.TCPPair(t)
	s, err := newPortalStream(n, server, n.Logger(), &streamSet{}, nodetest.Local("peer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.broken = true // as closeLater leaves it until the close runs
	s.mu.Unlock()
	defer s.close(nil, false)

	before := splice.PipesInUse()
	p := splice.GetPipe()
	if p == nil {
		t.Skip("no pipe to be had")
	}
	data := make([]byte, splice.MinBytes)
	rand.Read(data)
	if err := p.Put(data); err != nil {
		t.Fatal(err)
	}
	head := wire.AppendUvarint([]byte{byte(portalPayload)}, uint64(len(data)))
	msg := routing.Message{Onward: routing.Route{s.addr}, Return: nodetest.Local("peer"), Payload: head}
	if err := n.Route(t.Context(), runtime.NewRouted(msg, nil, nil, runtime.NewSpliced(p, appendSeq(nil, 0)))); err != nil {
		t.Fatal(err)
	}
	if now := splice.PipesInUse(); now > before {
		t.Fatalf("%d pipes in use after the drop, %d before", now, before)
	}
}

// A portal stream's read into a pipe that gets little (a small pipe, or
// the data in many small pieces) goes through memory instead, and the
// stream arrives whole.
func TestPortalPipeFull(t *testing.T) {
	restore := splice.SetCapacity(4096)
	defer restore()
	path := newPortalPath(t, nodetest.ServeTCP(t, nodetest.EchoServer))
	if err := nodetest.RoundTripStream(path.inlet.Addr(), 4<<20); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
}
