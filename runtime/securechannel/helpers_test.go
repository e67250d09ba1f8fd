package securechannel

import (
	"context"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// securePath is n1 -> n2 <- n3 (relay), with a listener "api" on n3.
// Every connection to n2 crosses a tap.
type securePath struct {
	n1, n2, n3   *runtime.Node
	sc1, sc3     *Channels
	logs1, logs3 *nodetest.LogBuffer
	tap          *nodetest.Tap
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
	p.tap = &nodetest.Tap{Addr: nodetest.Listen(t, p.n2)}
	if tapped {
		p.tap = nodetest.NewTap(t, p.tap.Addr)
	}
	p.n3, p.logs3 = nodetest.Node(t, "n3", runtime.Options{})
	p.sc3 = New(p.n3, Options{})
	if err := p.sc3.Listen("api", opts); err != nil {
		t.Fatal(err)
	}
	p.relay = startRelay(t, p.n3, p.tap.Addr)
	p.n1, p.logs1 = nodetest.Node(t, "n1", runtime.Options{})
	p.sc1 = New(p.n1, Options{})
	p.toAPI = routing.Route{routing.TCPAddress(p.tap.Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
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

// fastKeepAlive makes a dead channel end within the tests' waits.
var fastKeepAlive = Options{KeepAlive: runtime.KeepAlive{Every: 200 * time.Millisecond, DeadAfter: 2 * time.Second}}
