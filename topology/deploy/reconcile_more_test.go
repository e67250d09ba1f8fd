package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// BenchmarkReconcile measures one change applied to a running topology:
// a node added with a listener, a hop service and an inlet, then removed
// again (two reconciles an iteration), while a stream stays open through
// an untouched inlet.
func BenchmarkReconcile(b *testing.B) {
	f := &fixture{vars: []string{"a=" + namedTarget(b, "A"), "b=" + namedTarget(b, "B")}, logs: &syncBuffer{}}
	base := f.load(b, reconcileBase)
	more := f.load(b, reconcileBase+`
node "n4" {
  tcp_listener = "127.0.0.1:0"
  service "h4" {
    type = "hop"
  }
  tcp_inlet "i4" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
}
`)
	run, err := Start(context.Background(), base, allLocal(base), StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer run.Stop()
	f.run = run
	web := dialInlet(b, f, "n1.web")
	for b.Loop() {
		for _, next := range []*topology.Topology{more, base} {
			if _, err := run.Reconcile(context.Background(), next, allLocal(next), ReconcileOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(2*b.N), "µs/reconcile")
	web.echoes(b, "still open")
}

// A relay moved to another relay node: it is replaced, its forwarder goes
// from the old relay node and comes at the new one, and the routes that
// follow it work.
func TestReconcileRelayMoved(t *testing.T) {
	withN5 := reconcileBase + `
node "n5" {
  tcp_listener = "127.0.0.1:0"
}
`
	f := startFixture(t, withN5)
	moved := strings.ReplaceAll(edited(t, withN5, `at = node.n2`, `at = node.n5`), "/node/n2/service/forward_to_n3", "/node/n5/service/forward_to_n3")
	d, _, err := f.reconcile(t, moved)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Lines(), "~ relay n3 on n3: at node.n2 -> node.n5, replaced") {
		t.Errorf("diff: %q", d.Lines())
	}
	if got := dialInlet(t, f, "n1.web").target; got != "A" {
		t.Errorf("web reaches %s", got)
	}
	if fw := f.run.Node("n5").Forwarders(); len(fw) != 1 {
		t.Errorf("n5 forwards %v", fw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.run.Node("n2").Forwarders()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if fw := f.run.Node("n2").Forwarders(); len(fw) > 0 {
		t.Errorf("n2 still forwards %v", fw)
	}
}

// A stopped topology is not reconciled.
func TestReconcileAfterStop(t *testing.T) {
	f := startFixture(t, reconcileBase)
	f.run.Stop()
	if _, _, err := f.reconcile(t, reconcileBase+"node \"n9\" {}\n"); !errors.Is(err, ErrStopped) {
		t.Fatalf("reconcile after Stop: %v, want ErrStopped", err)
	}
}

// A node's allow list changes in place: the node, its listener and its
// connections stay.
func TestReconcileAllow(t *testing.T) {
	f := startFixture(t, reconcileBase)
	n2 := f.run.Node("n2")
	if err := n2.StartWorker("mine", runtime.Echo{}); err != nil {
		t.Fatal(err)
	}
	listener := f.run.Listeners()["n2"]
	d, lines, err := f.reconcile(t, edited(t, reconcileBase, `tcp_listener = "127.0.0.1:0"`, `tcp_listener = "127.0.0.1:0"
  allow        = ["mine"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Lines(), []string{`~ node n2: allow null -> ["mine"]`}) || !slices.Equal(lines, []string{"✔ node n2 allows [mine]"}) {
		t.Errorf("diff %q, progress %q", d.Lines(), lines)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := f.run.Send(ctx, "n1", "/node/n2/service/mine", wire.EncodeString("hi"))
	if err != nil || string(reply) != string(wire.EncodeString("hi")) {
		t.Fatalf("send to the allowed worker: %q, %v", reply, err)
	}
	if f.run.Node("n2") != n2 || f.run.Listeners()["n2"] != listener {
		t.Error("n2 was replaced")
	}
}

// Status, sends and streams go on while reconciles come and go.
func TestReconcileWhileInUse(t *testing.T) {
	f := startFixture(t, reconcileBase)
	more := reconcileBase + `
node "n4" {
  tcp_listener = "127.0.0.1:0"
  service "h4" {
    type = "hop"
  }
  tcp_inlet "i4" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet2"
  }
}
`
	web := dialInlet(t, f, "n1.web")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = f.run.Status()
			_ = f.run.Inlets()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = f.run.Send(ctx, "n1", "/node/n2/service/forward_to_n3/service/uppercase", wire.EncodeString("x"))
			cancel()
		}
	})
	for i := range 20 {
		src := reconcileBase
		if i%2 == 0 {
			src = more
		}
		if _, _, err := f.reconcile(t, src); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
		web.echoes(t, fmt.Sprintf("round %d", i))
	}
	close(stop)
	wg.Wait()
}

// One file in two processes (--node): each reconciles its own nodes, and
// follows the other's to its new listener address.
func TestReconcileSplitAcrossProcesses(t *testing.T) {
	freePort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	src := func(n2 string) string {
		return fmt.Sprintf(`
node "n2" {
  tcp_listener = %q
}
node "n3" {
  relay "n3" {
    at = node.n2
  }
}
node "n1" {}
`, n2)
	}
	first, second := freePort(), freePort()
	load := func(s string) *topology.Topology {
		topo, _, diags := topology.Load("t.hcl", []byte(s), schema.Overrides{})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return topo
	}
	start := func(topo *topology.Topology, nodes ...string) (*Running, map[string]bool) {
		local, diags := topo.Subset(nodes)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		run, err := Start(context.Background(), topo, local, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { run.Stop() })
		return run, local
	}
	here, _ := start(load(src(first)), "n2")
	there, _ := start(load(src(first)), "n1", "n3")

	send := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := there.Send(ctx, "n1", "/node/n2/service/forward_to_n3/service/uppercase", wire.EncodeString("x"))
		return err
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	next := load(src(second))
	localHere, _ := next.Subset([]string{"n2"})
	if _, err := here.Reconcile(context.Background(), next, localHere, ReconcileOptions{}); err != nil {
		t.Fatal(err)
	}
	localThere, _ := next.Subset([]string{"n1", "n3"})
	var lines []string
	if _, err := there.Reconcile(context.Background(), next, localThere, ReconcileOptions{Progress: func(l string) { lines = append(lines, l) }}); err != nil {
		t.Fatal(err)
	}
	want := []string{"✔ stopped relay n3 on n3", "✔ relay n3 at n2: /node/n2/service/forward_to_n3"}
	if !slices.Equal(lines, want) {
		t.Errorf("progress of the other process: %q, want %q", lines, want)
	}
	if err := send(); err != nil {
		t.Fatalf("after the move: %v", err)
	}
	if got := here.Listeners()["n2"]; got != second {
		t.Errorf("n2 listens on %s, want %s", got, second)
	}
}

// Outlets and services removed stop; a service whose type changes is
// replaced.
func TestReconcileOutletAndServices(t *testing.T) {
	base := edited(t, reconcileBase, `node "n1" {`, `node "n1" {
  service "s1" {
    type = "hop"
  }
  service "s2" {
    type = "echo"
  }`)
	f := startFixture(t, base)
	src := edited(t, base, `  service "s1" {
    type = "hop"
  }
  service "s2" {
    type = "echo"
  }`, `  service "s1" {
    type = "uppercase"
  }`, `  tcp_outlet "outlet2" {
    to = "127.0.0.1:${var.b}"
  }
`, "")
	d, _, err := f.reconcile(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"- tcp_outlet outlet2 on n3", `~ service s1 on n1: type "hop" -> "uppercase", replaced`, "- service s2 on n1"}
	if got := d.Lines(); !slices.Equal(got, want) {
		t.Errorf("diff %q, want %q", got, want)
	}
	if f.run.Node("n1").HasWorker("s2") || f.run.Node("n3").HasWorker("outlet2") {
		t.Error("a removed part still runs")
	}
	for _, ns := range f.run.Status().Nodes {
		for _, o := range ns.Outlets {
			if o.Name == "outlet2" {
				t.Error("status lists the removed outlet")
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := f.run.Send(ctx, "n1", "/service/s1", wire.EncodeString("up"))
	if err != nil || string(reply) != string(wire.EncodeString("UP")) {
		t.Errorf("s1 is now uppercase: %q, %v", reply, err)
	}
	if got := dialInlet(t, f, "n1.web").target; got != "A" {
		t.Errorf("web reaches %s", got)
	}
}
