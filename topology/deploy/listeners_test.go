package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

// listenersBase has a relay node, n2, that listens on its own address and
// on one more; n3 registers a relay at it.
const listenersBase = `
variable "a" {}
variable "b" {}

node "n2" {
  tcp_listener  = "127.0.0.1:0"
  tcp_listeners = ["127.0.0.2:0"]
}

node "n3" {
  relay "n3" {
    at = node.n2
  }
}

node "n1" {}
`

// sendVia sends "hi" from n1 to uppercase at n3 through n2's forwarder,
// reaching n2 at listener (host:port).
func sendVia(t *testing.T, f *fixture, listener string) error {
	t.Helper()
	host, port, err := net.SplitHostPort(listener)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	route := fmt.Sprintf("/ip4/%s/tcp/%s/service/forward_to_n3/service/uppercase", host, port)
	reply, err := f.run.Send(ctx, "n1", route, wire.EncodeString("hi"))
	if err != nil {
		return err
	}
	if got, err := wire.String(reply); err != nil || got != "HI" {
		return fmt.Errorf("reply %q, %v", got, err)
	}
	return nil
}

// A node's other listeners take connections as its own does, and a
// reconcile adds or removes one of them alone: the node's own listener,
// its other listeners and the relay registered at it are untouched.
func TestReconcileTCPListeners(t *testing.T) {
	f := startFixture(t, listenersBase)
	own := f.run.ListenerOf("n2")
	more := f.run.TCPListenersOf("n2")
	if len(more) != 1 || !strings.HasPrefix(more[0], "127.0.0.2:") {
		t.Fatalf("n2's other listeners: %v", more)
	}
	if err := sendVia(t, f, more[0]); err != nil {
		t.Fatalf("through n2's other listener: %v", err)
	}
	regs, conn := relayRegistrations(f, "n3", "n3")

	// Add one.
	added := edited(t, listenersBase, `["127.0.0.2:0"]`, `["127.0.0.2:0", "127.0.0.3:0"]`)
	d, lines, err := f.reconcile(t, added)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.Lines(), "\n"); got != `+ tcp_listeners 127.0.0.3:0 of node n2: "127.0.0.3:0"` {
		t.Errorf("plan:\n%s", got)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "✔ node n2 listening also on 127.0.0.3:") {
		t.Errorf("progress: %q", lines)
	}
	now := f.run.TCPListenersOf("n2")
	if len(now) != 2 || now[0] != more[0] || !strings.HasPrefix(now[1], "127.0.0.3:") {
		t.Fatalf("n2's other listeners: %v, was %v", now, more)
	}
	if err := sendVia(t, f, now[1]); err != nil {
		t.Errorf("through the new listener: %v", err)
	}
	if f.run.ListenerOf("n2") != own {
		t.Errorf("n2's own listener moved: %s -> %s", own, f.run.ListenerOf("n2"))
	}
	st := f.node(t, "n2")
	if len(st.TCPListeners) != 2 || st.TCPListeners[1].Declared != "127.0.0.3:0" || st.TCPListeners[1].Address != now[1] {
		t.Errorf("status of n2's listeners: %+v", st.TCPListeners)
	}

	// Remove the first: it no longer takes connections; the rest goes on.
	removed := edited(t, listenersBase, `["127.0.0.2:0"]`, `["127.0.0.3:0"]`)
	d, _, err = f.reconcile(t, removed)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.Lines(), "\n"); got != `- tcp_listeners 127.0.0.2:0 of node n2` {
		t.Errorf("plan:\n%s", got)
	}
	if left := f.run.TCPListenersOf("n2"); len(left) != 1 || left[0] != now[1] {
		t.Errorf("n2's other listeners: %v, want [%s]", left, now[1])
	}
	if c, err := net.DialTimeout("tcp", more[0], time.Second); err == nil {
		c.Close()
		t.Errorf("the removed listener %s still takes connections", more[0])
	}
	if err := sendVia(t, f, own); err != nil {
		t.Errorf("through n2's own listener: %v", err)
	}
	if r2, c2 := relayRegistrations(f, "n3", "n3"); r2 != regs || c2 != conn {
		t.Errorf("relay touched: %d registrations on %s, was %d on %s", r2, c2, regs, conn)
	}
}

// A listener whose port is taken fails the reconcile before anything
// changes, and names the listener.
func TestReconcileTCPListenerPortTaken(t *testing.T) {
	f := startFixture(t, listenersBase)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	before := f.run.TCPListenersOf("n2")
	_, _, err = f.reconcile(t, edited(t, listenersBase, `["127.0.0.2:0"]`, fmt.Sprintf(`["127.0.0.2:0", %q]`, taken.Addr().String())))
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(se.Part, "tcp_listeners") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reconcile: %v, want a StartError naming the listener", err)
	}
	if after := f.run.TCPListenersOf("n2"); len(after) != 1 || after[0] != before[0] {
		t.Errorf("n2's other listeners: %v, were %v", after, before)
	}
}

func (f *fixture) node(t *testing.T, name string) NodeStatus {
	t.Helper()
	for _, n := range f.run.Status().Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s runs", name)
	return NodeStatus{}
}

// A reconcile that fails after it stopped one of a node's other
// listeners starts it again on the port it had bound (port 0 in the
// file).
func TestReconcileTCPListenerRollback(t *testing.T) {
	f := startFixture(t, listenersBase)
	before := f.run.TCPListenersOf("n2")
	// Someone else's worker holds the address of the new service.
	if err := f.run.Node("n2").StartWorker("svc", nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.reconcile(t, edited(t, listenersBase, `  tcp_listeners = ["127.0.0.2:0"]`, `  service "svc" {
    type = "echo"
  }`))
	var se *StartError
	if !errors.As(err, &se) || se.Part != `service "svc" of node "n2"` {
		t.Fatalf("reconcile: %v, want a StartError naming service svc", err)
	}
	if after := f.run.TCPListenersOf("n2"); len(after) != 1 || after[0] != before[0] {
		t.Errorf("n2's other listeners after the rollback: %v, were %v", after, before)
	}
	if err := sendVia(t, f, before[0]); err != nil {
		t.Errorf("through the listener started again: %v", err)
	}
}
