package relay

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// portalPath is the seed's portal: inlet on n1 -> n2 -> relay back to n3
// -> hop -> outlet on n3 -> target.
type portalPath struct {
	n1, n2, n3 *runtime.Node
	inlet      *portal.Inlet
	outlet     *portal.Outlet
	relay      *Relay
}

// newPortalPath starts a portalPath whose relay has opts.
func newPortalPath(t testing.TB, target string, inletOpts portal.InletOptions, opts Options) *portalPath {
	t.Helper()
	p := &portalPath{}
	p.n2, _ = nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.Listen(t, p.n2)
	p.n3, _ = nodetest.Node(t, "n3", runtime.Options{})
	if err := p.n3.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.outlet, err = portal.StartOutlet(p.n3, "outlet", target, portal.OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	if p.relay, err = Start(p.n3, "n3", n2Addr, opts); err != nil {
		t.Fatal(err)
	}
	<-p.relay.Ready()
	p.n1, _ = nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.TCPAddress(n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("outlet")}
	p.inlet, err = portal.StartInlet(p.n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, inletOpts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
