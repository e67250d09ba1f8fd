package nodetest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/udp"
)

// ListenUDP gives n a UDP listener on a loopback port and returns its
// address.
func ListenUDP(t testing.TB, n *runtime.Node) string {
	t.Helper()
	l, err := udp.Listen(n, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr()
}

// LossyUDPProxy forwards datagrams between its clients and target, and on
// the way drops, duplicates and reorders a share of them, each chosen by a
// seeded random source. A client gets a socket of its own towards the
// target, so that the target sees one peer per client.
type LossyUDPProxy struct {
	// Addr is where the proxy listens.
	Addr string
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

// NewLossyUDPProxy starts a proxy to the UDP target until the test ends,
// which drops, duplicates and reorders the shares drop, dup and reorder of
// the datagrams, as a source seeded with seed chooses.
func NewLossyUDPProxy(t testing.TB, target string, seed uint64, drop, dup, reorder float64) *LossyUDPProxy {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &LossyUDPProxy{
		Addr: ln.LocalAddr().String(), drop: drop, dup: dup, reorder: reorder,
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
				if u, err = net.DialUDP("udp", nil, to); err != nil {
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

// forward sends one datagram through sock, after the proxy's mischief.
func (p *LossyUDPProxy) forward(sock *net.UDPConn, d heldPacket) {
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
