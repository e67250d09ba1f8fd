package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// reconcileBase is the seeds' portal with two outlets, A and B, and two
// inlets: web through a hop, api straight to the outlet.
const reconcileBase = `
variable "a" {}
variable "b" {}

node "n2" {
  tcp_listener = "127.0.0.1:0"
}

node "n3" {
  service "hop" {}
  relay "n3" {
    at = node.n2
  }
  tcp_outlet "outlet" {
    to = "127.0.0.1:${var.a}"
  }
  tcp_outlet "outlet2" {
    to = "127.0.0.1:${var.b}"
  }
}

node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
  tcp_inlet "api" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
}
`

// namedTarget is a TCP server that answers each connection with its name,
// then echoes; it runs until the test ends. It returns its port.
func namedTarget(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := c.Write([]byte(name)); err == nil {
					_, _ = io.Copy(c, c)
				}
			})
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// fixture is a running topology and the variables of its file.
type fixture struct {
	run  *Running
	vars []string
	logs *syncBuffer
}

func (f *fixture) load(t testing.TB, src string) *topology.Topology {
	t.Helper()
	topo, _, diags := topology.Load("t.hcl", []byte(src), schema.Overrides{Vars: f.vars})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return topo
}

func allLocal(t *topology.Topology) map[string]bool {
	local := map[string]bool{}
	for _, n := range t.Nodes {
		local[n.Name] = true
	}
	return local
}

func startFixture(t *testing.T, src string) *fixture {
	t.Helper()
	f := &fixture{vars: []string{"a=" + namedTarget(t, "A"), "b=" + namedTarget(t, "B")}, logs: &syncBuffer{}}
	topo := f.load(t, src)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: f.logs})
	run, err := Start(context.Background(), topo, allLocal(topo), StartOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f.run = run
	t.Cleanup(func() {
		run.Stop()
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs)
		}
	})
	return f
}

func (f *fixture) reconcile(t *testing.T, src string) (*topology.Diff, []string, error) {
	t.Helper()
	topo := f.load(t, src)
	var lines []string
	d, err := f.run.Reconcile(context.Background(), topo, allLocal(topo), ReconcileOptions{Progress: func(l string) { lines = append(lines, l) }})
	return d, lines, err
}

// stream is a client connection through an inlet, with the name of the
// target it reached.
type stream struct {
	net.Conn
	target string
}

func dialInlet(t testing.TB, f *fixture, inlet string) *stream {
	t.Helper()
	addr := f.run.Inlets()[inlet]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial inlet %s at %s: %v", inlet, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("stream through inlet %s: %v", inlet, err)
	}
	return &stream{Conn: c, target: string(buf)}
}

func (s *stream) echoes(t testing.TB, msg string) {
	t.Helper()
	if _, err := s.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, buf, err)
	}
}

func edited(t *testing.T, src string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(src, pairs[i]) {
			t.Fatalf("edit: no %q", pairs[i])
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

// relayRegistrations counts the registrations of a relay, and its
// connection: the same connection and one registration mean untouched.
func relayRegistrations(f *fixture, node, name string) (int, string) {
	for _, ns := range f.run.Status().Nodes {
		if ns.Name != node {
			continue
		}
		for _, r := range ns.Relays {
			if r.Name == name {
				return r.Registrations, r.Connection
			}
		}
	}
	return 0, ""
}

// Adding a node, a check and a service and changing an inlet's route
// leaves the rest running: an open stream through an untouched inlet
// goes on, the relay keeps its connection, the inlets keep their ports.
func TestReconcileTouchesOnlyWhatChanged(t *testing.T) {
	f := startFixture(t, reconcileBase)
	web := dialInlet(t, f, "n1.web")
	web.echoes(t, "before")
	api := dialInlet(t, f, "n1.api")
	before := f.run.Inlets()
	regs, conn := relayRegistrations(f, "n3", "n3")

	d, lines, err := f.reconcile(t, edited(t, reconcileBase,
		`/service/forward_to_n3/service/outlet"`, `/service/forward_to_n3/service/outlet2"`)+`
node "n4" {
  tcp_listener = "127.0.0.1:0"
  service "h4" {
    type = "hop"
  }
}

check "through n4" {
  from   = node.n1
  to     = "/node/n4/service/h4/service/uppercase"
  send   = "hi"
  expect = "HI"
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Summary(); got != "Plan: 4 to add, 1 to change, 0 to remove." {
		t.Errorf("summary: %s\n%s", got, strings.Join(d.Lines(), "\n"))
	}
	t.Logf("progress:\n%s", strings.Join(lines, "\n"))
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "✔ node n4 listening on 127.0.0.1:") }) {
		t.Errorf("progress does not say n4 started: %q", lines)
	}

	web.echoes(t, "after")
	api.echoes(t, "the open api stream keeps its old route")
	if got := dialInlet(t, f, "n1.api").target; got != "B" {
		t.Errorf("a new api stream reached %s, want B (the new route)", got)
	}
	if after := f.run.Inlets(); after["n1.web"] != before["n1.web"] || after["n1.api"] != before["n1.api"] {
		t.Errorf("inlets moved: %v -> %v", before, after)
	}
	if r2, c2 := relayRegistrations(f, "n3", "n3"); r2 != regs || c2 != conn {
		t.Errorf("relay touched: %d registrations on %s, was %d on %s", r2, c2, regs, conn)
	}
	results := f.run.RunChecksOf(context.Background(), d)
	if len(results) != 1 || !results[0].OK || results[0].Name != "through n4" {
		t.Errorf("checks of the change: %+v", results)
	}
	reply, err := f.run.Send(context.Background(), "n1", "/node/n4/service/h4/service/echo", wire.EncodeString("x"))
	if err != nil || string(reply) != string(wire.EncodeString("x")) {
		t.Errorf("send through n4: %q, %v", reply, err)
	}
}

// Removing a relay stops it: its forwarder goes from the relay node, and
// the streams that went over it are cut at once, at both ends.
func TestReconcileRemoveRelay(t *testing.T) {
	f := startFixture(t, reconcileBase)
	through := dialInlet(t, f, "n1.web")
	through.echoes(t, "over the relay")
	src := edited(t, reconcileBase, `  relay "n3" {
    at = node.n2
  }
`, "", `node "n3" {`, `node "n3" {
  tcp_listener = "127.0.0.1:0"`,
		`/node/n2/service/forward_to_n3/service/hop/service/outlet`, `/node/n3/service/hop/service/outlet`,
		`/node/n2/service/forward_to_n3/service/outlet`, `/node/n3/service/outlet`)
	d, _, err := f.reconcile(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Lines(), "- relay n3 on n3") {
		t.Errorf("diff: %q", d.Lines())
	}
	_ = through.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Cut, not ended: the client sees a reset, never a clean end that
	// would pass what came for all of it.
	if n, err := through.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a stream over the removed relay: read %d bytes, %v; want it reset", n, err)
	}
	for _, ns := range f.run.Status().Nodes {
		if len(ns.Relays) > 0 {
			t.Errorf("node %s still has relays %+v", ns.Name, ns.Relays)
		}
		if ns.Name == "n2" {
			deadline := time.Now().Add(5 * time.Second)
			for len(f.run.Node("n2").Forwarders()) > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if fw := f.run.Node("n2").Forwarders(); len(fw) > 0 {
				t.Errorf("n2 still forwards %v", fw)
			}
		}
	}
	if got := dialInlet(t, f, "n1.web").target; got != "A" {
		t.Errorf("web now reaches %s", got)
	}
}

// A listener that moves takes its relay clients with it: they are
// replaced, and register at the new port.
func TestReconcileMoveListener(t *testing.T) {
	f := startFixture(t, reconcileBase)
	old := f.run.Listeners()["n2"]
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	moved := free.Addr().String()
	free.Close()
	d, _, err := f.reconcile(t, edited(t, reconcileBase, `tcp_listener = "127.0.0.1:0"`, fmt.Sprintf("tcp_listener = %q", moved)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`~ tcp_listener of node n2: "127.0.0.1:0" -> "` + moved + `", replaced`, `~ relay n3 on n3: replaced because tcp_listener of node n2 changed`}
	if !slices.Equal(d.Lines(), want) {
		t.Errorf("diff: %q", d.Lines())
	}
	if got := f.run.Listeners()["n2"]; got != moved {
		t.Errorf("n2 listens on %s (was %s), want %s", got, old, moved)
	}
	for _, ns := range f.run.Status().Nodes {
		for _, r := range ns.Relays {
			if r.At != moved || r.State != "up" {
				t.Errorf("relay %+v, want up at %s", r, moved)
			}
		}
	}
	if got := dialInlet(t, f, "n1.web").target; got != "A" {
		t.Errorf("web reaches %s", got)
	}
	if c, err := net.Dial("tcp", old); err == nil {
		c.Close()
		t.Errorf("the old listener %s still accepts", old)
	}
}

// A difference that cannot be applied (a port in use) leaves everything
// as it was, and names the part and its declaration.
func TestReconcilePortTakenChangesNothing(t *testing.T) {
	f := startFixture(t, reconcileBase)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	web := dialInlet(t, f, "n1.web")
	before := f.run.Status()
	src := edited(t, reconcileBase, `  tcp_inlet "api" {
    from = "127.0.0.1:0"`, fmt.Sprintf(`  tcp_inlet "api" {
    from = %q`, taken.Addr().String()), `  relay "n3" {
    at = node.n2
  }
`, "", `node "n3" {`, `node "n3" {
  tcp_listener = "127.0.0.1:0"`, `/node/n2/service/forward_to_n3/service/hop/service/outlet`, `/node/n3/service/hop/service/outlet`,
		`/node/n2/service/forward_to_n3/service/outlet`, `/node/n3/service/outlet`)
	_, _, err = f.reconcile(t, src)
	var se *StartError
	if !errors.As(err, &se) || se.Part != `tcp_inlet "api" of node "n1"` || se.Where != "t.hcl:26,12-29" || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reconcile: %v, want a StartError naming tcp_inlet api at t.hcl:26", err)
	}
	web.echoes(t, "nothing changed")
	assertSameStatus(t, before, f.run.Status())
	if f.run.Topology().Node("n3").Listener != "" {
		t.Error("the running plan is the new one")
	}
}

// A listener that moves to a port it holds itself (another host, the
// same port) is bound once it alone has stopped; if that fails, it is
// bound again where it was, and nothing else was touched: not the relay
// that dials it, not the streams through that relay.
func TestReconcileSamePortFailsUntouched(t *testing.T) {
	p, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fixed := p.Addr().String()
	p.Close()
	base := edited(t, reconcileBase, `tcp_listener = "127.0.0.1:0"`, fmt.Sprintf("tcp_listener = %q", fixed))
	f := startFixture(t, base)
	web := dialInlet(t, f, "n1.web")
	before := f.run.Status()
	regs, conn := relayRegistrations(f, "n3", "n3")

	// 0.0.0.0:P clashes with n2's own 127.0.0.1:P, and once that is
	// closed, with 127.0.0.2:P, held from now on.
	_, port, _ := net.SplitHostPort(fixed)
	other, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	defer other.Close()
	src := edited(t, base, fmt.Sprintf("tcp_listener = %q", fixed), fmt.Sprintf(`tcp_listener = "0.0.0.0:%s"`, port), `  tcp_inlet "api" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
`, "")
	_, lines, err := f.reconcile(t, src)
	var se *StartError
	if !errors.As(err, &se) || se.Part != `node "n2"` || !strings.Contains(se.Where, "t.hcl:6,") {
		t.Fatalf("reconcile: %v, want a StartError naming node n2's listener", err)
	}
	want := []string{"✔ stopped tcp_listener of node n2", "✔ node n2 listening on " + fixed}
	if !slices.Equal(lines, want) {
		t.Errorf("progress:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	web.echoes(t, "untouched")
	assertSameStatus(t, before, f.run.Status())
	if r2, c2 := relayRegistrations(f, "n3", "n3"); r2 != regs || c2 != conn {
		t.Errorf("relay touched: %d registrations on %s, was %d on %s", r2, c2, regs, conn)
	}
}

// A part that fails to start after others were stopped: those are started
// again on the ports they had bound, and the rest was never touched.
func TestReconcileRollbackRestoresStoppedParts(t *testing.T) {
	f := startFixture(t, reconcileBase)
	web := dialInlet(t, f, "n1.web")
	before := f.run.Status()
	// Someone else's worker holds the address of the new service.
	if err := f.run.Node("n1").StartWorker("svc", nil); err != nil {
		t.Fatal(err)
	}
	src := edited(t, reconcileBase, `  tcp_inlet "api" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
`, "", `node "n1" {`, `node "n1" {
  service "svc" {
    type = "echo"
  }`)
	_, lines, err := f.reconcile(t, src)
	var se *StartError
	if !errors.As(err, &se) || se.Part != `service "svc" of node "n1"` || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reconcile: %v, want a StartError naming service svc", err)
	}
	want := []string{"✔ stopped tcp_inlet api on n1", "✔ tcp_inlet api on n1 listening on " + f.run.Inlets()["n1.api"] + " -> /node/n2/service/forward_to_n3/service/outlet"}
	if !slices.Equal(lines, want) {
		t.Errorf("progress:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	web.echoes(t, "untouched")
	assertSameStatus(t, before, f.run.Status())
	if got := dialInlet(t, f, "n1.api").target; got != "A" {
		t.Errorf("the api inlet, started again, reaches %s", got)
	}
}

// assertSameStatus compares what a reconcile must leave as it was: the
// nodes, their listeners, inlets (address, route) and outlets, and the
// relays' state and relay node.
func assertSameStatus(t *testing.T, before, after Status) {
	t.Helper()
	type part struct{ node, what string }
	flat := func(st Status) []string {
		var out []string
		for _, n := range st.Nodes {
			out = append(out, fmt.Sprintf("node %s listener %s services %v", n.Name, n.Listener, n.Services))
			for _, in := range n.Inlets {
				out = append(out, fmt.Sprintf("inlet %s.%s %s -> %s", n.Name, in.Name, in.Address, in.Route))
			}
			for _, o := range n.Outlets {
				out = append(out, fmt.Sprintf("outlet %s.%s -> %s", n.Name, o.Name, o.Target))
			}
			for _, r := range n.Relays {
				out = append(out, fmt.Sprintf("relay %s.%s at %s %s", n.Name, r.Name, r.At, r.State))
			}
		}
		return out
	}
	b, a := flat(before), flat(after)
	if !slices.Equal(b, a) {
		t.Errorf("status changed:\nbefore:\n%s\nafter:\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"))
	}
}

// Removing a node stops it and everything on it; its ports are free.
func TestReconcileRemoveNode(t *testing.T) {
	f := startFixture(t, reconcileBase)
	web := f.run.Inlets()["n1.web"]
	src := edited(t, reconcileBase, `node "n1" {`, `node "gone" {`)
	src = src[:strings.Index(src, `node "gone" {`)]
	d, _, err := f.reconcile(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Summary(); got != "Plan: 0 to add, 0 to change, 3 to remove." {
		t.Errorf("summary %s: %q", got, d.Lines())
	}
	if f.run.Node("n1") != nil {
		t.Error("n1 still runs")
	}
	if _, ok := f.run.Inlets()["n1.web"]; ok {
		t.Error("n1's inlet is still listed")
	}
	ln, err := net.Listen("tcp", web)
	if err != nil {
		t.Fatalf("n1's inlet port is still taken: %v", err)
	}
	ln.Close()
}

// An outlet's new target is dialed by new streams, in place.
func TestReconcileOutletTarget(t *testing.T) {
	f := startFixture(t, reconcileBase)
	old := dialInlet(t, f, "n1.web")
	d, _, err := f.reconcile(t, edited(t, reconcileBase, `"127.0.0.1:${var.a}"`, `"127.0.0.1:${var.b}"`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Change != 1 {
		t.Errorf("diff %q", d.Lines())
	}
	if got := dialInlet(t, f, "n1.web").target; got != "B" {
		t.Errorf("new stream reached %s", got)
	}
	old.echoes(t, "old target")
}
