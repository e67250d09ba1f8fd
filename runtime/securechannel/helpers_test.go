package securechannel

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// tap is a TCP proxy in front of a node's listener that keeps every byte
// that crosses it, both ways: what the node in the middle sees.
type tap struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer // guarded by mu
}

func newTap(t testing.TB, target string) *tap {
	tp := &tap{}
	tp.addr = nodetest.ServeTCP(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tp.copy(u, c)
			u.Close()
		}()
		tp.copy(c, u)
		c.Close()
		<-done
	})
	return tp
}

// copy copies from src to dst, keeping what passes.
func (tp *tap) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.seen.Write(buf[:n])
			tp.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (tp *tap) saw(s string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), []byte(s))
}

// securePath is n1 -> n2 <- n3 (relay), with a listener "api" on n3.
// Every connection to n2 crosses a tap.
type securePath struct {
	n1, n2, n3   *runtime.Node
	sc1, sc3     *Channels
	logs1, logs3 *nodetest.LogBuffer
	tap          *tap
	relay        *relay.Relay // n3's registration at n2
	// toAPI is the route from n1 to the listener.
	toAPI routing.Route
}

func newSecurePath(t testing.TB, opts ListenerOptions) *securePath {
	return newSecurePathTapped(t, opts, true)
}

// newSecurePathTapped is newSecurePath, with the tap in front of n2 or
// not (a benchmark's gigabytes are not to be kept).
func newSecurePathTapped(t testing.TB, opts ListenerOptions, tapped bool) *securePath {
	t.Helper()
	p := &securePath{}
	p.n2, _ = nodetest.Node(t, "n2", runtime.Options{})
	p.tap = &tap{addr: nodetest.Listen(t, p.n2)}
	if tapped {
		p.tap = newTap(t, p.tap.addr)
	}
	p.n3, p.logs3 = nodetest.Node(t, "n3", runtime.Options{})
	p.sc3 = New(p.n3, Options{})
	if err := p.sc3.Listen("api", opts); err != nil {
		t.Fatal(err)
	}
	p.relay = startRelay(t, p.n3, p.tap.addr)
	p.n1, p.logs1 = nodetest.Node(t, "n1", runtime.Options{})
	p.sc1 = New(p.n1, Options{})
	p.toAPI = routing.Route{routing.TCPAddress(p.tap.addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
	return p
}

// startRelay registers n at the relay node listening on at, as "n3", and
// waits for the registration. The relay registers again when its
// connection closes; its end-to-end checks wait a minute for an answer,
// so that a loaded race run, which may stall the path for seconds, does
// not tear down a relay these tests did not cut.
func startRelay(t testing.TB, n *runtime.Node, at string) *relay.Relay {
	t.Helper()
	r, err := relay.Start(n, "n3", at, relay.Options{PingTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("relay n3 at %s: not registered after 10s: %+v", at, r.Status())
	}
	return r
}

func (p *securePath) channel(t testing.TB) routing.Address {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	enc, err := p.sc1.Open(ctx, p.toAPI)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// secureInlet starts an inlet on p.n1 whose every stream goes through the
// channel to an outlet on n3 at target.
func (p *securePath) secureInlet(t testing.TB, target string) (*runtime.Inlet, *runtime.Outlet) {
	t.Helper()
	out, err := p.n3.StartOutlet("outlet", target, runtime.OutletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.n1.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		enc, err := p.sc1.Open(ctx, p.toAPI)
		return routing.Route{enc, routing.LocalAddress("outlet")}, err
	}, runtime.InletOptions{PingTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return in, out
}

// plainInlet starts an inlet on p.n1 to n3's outlet (secureInlet starts
// it) over the same relay, without the channel.
func (p *securePath) plainInlet(t testing.TB) *runtime.Inlet {
	t.Helper()
	plain := append(p.toAPI[:2:2], routing.LocalAddress("outlet"))
	in, err := p.n1.StartInlet("plain", "127.0.0.1:0", func() (routing.Route, error) { return plain, nil }, runtime.InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// fastKeepAlive makes a dead channel end within the tests' waits.
var fastKeepAlive = Options{KeepAlive: 200 * time.Millisecond, DeadAfter: 2 * time.Second}
