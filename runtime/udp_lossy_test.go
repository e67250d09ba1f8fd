package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// lossyUDPProxy forwards datagrams between its clients and target, and on
// the way drops, duplicates and reorders a share of them, each chosen by a
// seeded random source. A client gets a socket of its own towards the
// target, so that the target sees one peer per client.
type lossyUDPProxy struct {
	addr string
	// drop, dup and reorder are the shares of datagrams lost, sent twice,
	// and held back to go after the next one.
	drop, dup, reorder float64

	mu       sync.Mutex
	rng      *rand.Rand                  // guarded by mu
	upstream map[string]*net.UDPConn     // guarded by mu; by client address
	held     map[*net.UDPConn]heldPacket // guarded by mu; one held datagram a direction
	counts   map[string]int              // guarded by mu; "dropped", "duplicated", "reordered", "sent"
}

type heldPacket struct {
	data []byte
	to   *net.UDPAddr // nil: the connected upstream
}

func newLossyUDPProxy(t testing.TB, target string, seed uint64, drop, dup, reorder float64) *lossyUDPProxy {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyUDPProxy{
		addr: ln.LocalAddr().String(), drop: drop, dup: dup, reorder: reorder,
		rng:      rand.New(rand.NewPCG(seed, seed)),
		upstream: map[string]*net.UDPConn{},
		held:     map[*net.UDPConn]heldPacket{},
		counts:   map[string]int{},
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, u := range p.upstream {
			u.Close()
		}
		p.mu.Unlock()
		wg.Wait()
		t.Logf("lossy proxy: %v", p.counts)
	})
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := ln.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			u := p.upstream[from.String()]
			if u == nil {
				if u, err = net.DialUDP("udp", nil, mustResolve(target)); err != nil {
					p.mu.Unlock()
					return
				}
				p.upstream[from.String()] = u
				wg.Go(func() { // the way back
					buf := make([]byte, 64<<10)
					for {
						n, err := u.Read(buf)
						if errors.Is(err, net.ErrClosed) {
							return
						}
						if err != nil {
							continue // ICMP from a target gone: go on
						}
						p.forward(ln, heldPacket{bytes.Clone(buf[:n]), from})
					}
				})
			}
			p.mu.Unlock()
			p.forward(u, heldPacket{bytes.Clone(buf[:n]), nil})
		}
	})
	return p
}

func mustResolve(addr string) *net.UDPAddr {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		panic(err) // a test's own loopback address
	}
	return a
}

// forward sends one datagram through sock, after the proxy's mischief.
func (p *lossyUDPProxy) forward(sock *net.UDPConn, d heldPacket) {
	p.mu.Lock()
	r := p.rng.Float64()
	var out []heldPacket
	switch {
	case r < p.drop:
		p.counts["dropped"]++
	case r < p.drop+p.dup:
		p.counts["duplicated"]++
		out = []heldPacket{d, d}
	case r < p.drop+p.dup+p.reorder:
		if _, ok := p.held[sock]; !ok {
			p.counts["reordered"]++
			p.held[sock] = d // goes after the next one
			break
		}
		out = []heldPacket{d}
	default:
		out = []heldPacket{d}
	}
	if h, ok := p.held[sock]; ok && len(out) > 0 {
		delete(p.held, sock)
		out = append(out, h)
	}
	p.counts["sent"] += len(out)
	p.mu.Unlock()
	for _, d := range out {
		if d.to != nil {
			_, _ = sock.WriteToUDP(d.data, d.to)
		} else {
			_, _ = sock.Write(d.data)
		}
	}
}

// Messages over a lossy UDP hop arrive whole or not at all: every reply
// that comes is the message sent, byte for byte.
func TestUDPLossyRoutes(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	n2Addr := listenUDP(t, n2)
	proxy := newLossyUDPProxy(t, n2Addr, 1, 0.03, 0.03, 0.03)
	n1, _ := testNode(t, "n1", Options{})
	r := routing.Route{routing.UDPAddress(proxy.addr), routing.LocalAddress("echo")}
	var answered atomic.Int32
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < 120; i += 4 {
				s := fmt.Sprintf("%03d:%s", i, strings.Repeat(string(rune('a'+i%26)), (i%6)*400))
				got, err := trySend(n1, r, s, time.Second)
				if err != nil {
					continue // lost: allowed
				}
				if got != s {
					t.Errorf("message %d came back changed: %d bytes, want %d", i, len(got), len(s))
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of 120 round trips answered", answered.Load())
	// About 80 % come back; a quarter is plenty on a loaded machine, and
	// the point is that none comes back changed.
	if answered.Load() < 30 {
		t.Fatalf("only %d of 120 round trips answered over 3%% loss", answered.Load())
	}
}

// A portal stream over a lossy UDP hop delivers its bytes intact, or ends
// with an error (a reset): never cut, duplicated or reordered bytes taken
// for a whole stream.
func TestUDPLossyPortal(t *testing.T) {
	target := serveTCP(t, echoServer)
	n2, _ := testNode(t, "n2", Options{})
	n2Addr := listenUDP(t, n2)
	if _, err := n2.StartOutlet("outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy := newLossyUDPProxy(t, n2Addr, 7, 0.02, 0.02, 0.02)
	n1, _ := testNode(t, "n1", Options{})
	route := routing.Route{routing.UDPAddress(proxy.addr), routing.LocalAddress("outlet")}
	in, err := n1.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil },
		InletOptions{PingTimeout: time.Second, KeepAlive: KeepAlive{Every: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var intact, broken int
	for i := range 24 {
		size := 100 // one datagram a message
		if i%2 == 1 {
			size = 30 << 10
		}
		err := lossyRoundTrip(in.Addr(), size, uint64(i))
		switch {
		case err == nil:
			intact++
		case errors.Is(err, errCorrupted):
			t.Fatalf("stream %d: %v", i, err)
		default:
			broken++
		}
	}
	t.Logf("%d streams intact, %d ended with an error", intact, broken)
	if intact == 0 {
		t.Fatal("no stream made it through 2% loss")
	}
}

var (
	errCorrupted = errors.New("stream delivered wrong bytes without an error")
	errRefused   = errors.New("stream refused")
)

// lossyRoundTrip sends size bytes through the portal at addr to an echo
// server and reads them back. It returns nil when they came back whole,
// errCorrupted when the bytes read differ from those sent (even a short
// read that ended cleanly), and the read's error when the stream ended with
// one (as a broken stream must). A stream that never opened (its Ping or
// Pong lost: the inlet gives up and closes the client's connection before
// any byte) is errRefused.
func lossyRoundTrip(addr string, size int, seed uint64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	go func() {
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if !bytes.Equal(got, data[:min(len(got), len(data))]) {
		return fmt.Errorf("%w: %d bytes read are not a prefix of those sent", errCorrupted, len(got))
	}
	if err != nil {
		return err // cut, with an error: allowed
	}
	if len(got) == 0 {
		return errRefused
	}
	if len(got) != len(data) {
		return fmt.Errorf("%w: clean end after %d of %d bytes", errCorrupted, len(got), len(data))
	}
	return nil
}
