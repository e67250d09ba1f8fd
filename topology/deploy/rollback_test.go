package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// rollbackBase: n3 relays at n2, whose listener has a fixed port.
const rollbackBase = `
node "n2" {
  tcp_listener = "127.0.0.1:FIXED"
  identity     = "ID_A"
}

node "n3" {
  service "h" {
    type = "echo"
  }
  relay "n3" {
    at = node.n2
  }
}

node "n1" {}
`

// failingService is an edit that adds a service on n3 whose address
// someone else's worker holds: the reconcile fails when it gets there,
// after the changes to n2 and n1, and rolls back.
var failingService = [2]string{`  service "h" {`, `  service "svc" {
    type = "echo"
  }
  service "h" {`}

// startRollback starts rollbackBase and takes n3's address svc.
func startRollback(t *testing.T) (*forgetFixture, string) {
	t.Helper()
	fixed := fixedPort(t)
	base := strings.ReplaceAll(rollbackBase, "FIXED", fixed)
	f := startForget(t, base, true)
	if err := f.run.Node("n3").StartWorker("svc", nil); err != nil {
		t.Fatal(err)
	}
	return f, base
}

// reconcileFails applies edited, wants it to fail on service svc and to
// be rolled back, and wants the topology as it was: its status, n2's
// identifier, and a message through the relay.
func (f *forgetFixture) reconcileFails(t *testing.T, edited string) {
	t.Helper()
	before := f.run.Status()
	_, err := f.run.Reconcile(context.Background(), f.load(t, edited), allLocal(f.load(t, edited)), ReconcileOptions{})
	var se *StartError
	if !errors.As(err, &se) || se.Part != `service "svc" of node "n3"` {
		t.Fatalf("reconcile: %v, want it to fail on service svc", err)
	}
	if _, partly := errors.AsType[*RollbackError](err); partly {
		t.Fatalf("the rollback failed: %v", err)
	}
	waitFor(t, "the relay to register again", func() bool {
		rs := f.node(t, "n3").Relays
		return len(rs) == 1 && rs[0].State == "up"
	})
	assertSameStatus(t, before, f.run.Status())
	for _, n := range before.Nodes {
		if got := f.node(t, n.Name).Identifier; got != n.Identifier {
			t.Errorf("node %s has identifier %s after the rollback, %s before", n.Name, got, n.Identifier)
		}
	}
	f.send(t, "/node/n2/service/forward_to_n3/service/h", "hi", "hi")
}

// A node the failed plan removed runs again, as it was.
func TestRollbackRestoresARemovedNode(t *testing.T) {
	f, base := startRollback(t)
	edited := strings.Replace(base, "node \"n1\" {}\n", "", 1)
	edited = strings.Replace(edited, failingService[0], failingService[1], 1)
	// n1 is gone from the plan that fails: send from n3 instead.
	before := f.run.Status()
	_, err := f.run.Reconcile(context.Background(), f.load(t, edited), allLocal(f.load(t, edited)), ReconcileOptions{})
	if err == nil {
		t.Fatalf("reconcile: %v, want it to fail", err)
	}
	if _, partly := errors.AsType[*RollbackError](err); partly {
		t.Fatalf("the rollback failed: %v", err)
	}
	if f.run.Node("n1") == nil {
		t.Fatal("node n1 does not run after the rollback")
	}
	assertSameStatus(t, before, f.run.Status())
	if got := f.node(t, "n1").Identifier; got != before.Nodes[2].Identifier {
		t.Errorf("n1 came back with identifier %s, was %s", got, before.Nodes[2].Identifier)
	}
}

// A node the failed plan replaced (a new identity) comes back with its
// identity and its fixed port, and the relay at it registers again.
func TestRollbackRestoresAReplacedNode(t *testing.T) {
	f, base := startRollback(t)
	edited := strings.Replace(base, `identity     = "ID_A"`, `identity     = "ID_B"`, 1)
	f.reconcileFails(t, strings.Replace(edited, failingService[0], failingService[1], 1))
}

// A relay the failed plan replaced (its relay node's listener moved)
// starts again after the listener is back, at its address.
func TestRollbackRestartsARelayAfterItsListener(t *testing.T) {
	f, base := startRollback(t)
	edited := strings.Replace(base, `tcp_listener = "127.0.0.1:`, `tcp_listener = "0.0.0.0:`, 1)
	f.reconcileFails(t, strings.Replace(edited, failingService[0], failingService[1], 1))
}

// An exec that a reconcile adds and that exits before it accepts
// connections fails the reconcile, which is rolled back: its exit does not
// stop the topology.
func TestRollbackOfAFailedExecDoesNotStopTheTopology(t *testing.T) {
	f, base := startRollback(t)
	edited := strings.Replace(base, `node "n1" {}`, `node "n1" {
  exec "x" {
    command  = ["sh", "-c", "exit 3"]
    wait_for = "127.0.0.1:1"
    timeout  = "5s"
  }
}`, 1)
	_, err := f.run.Reconcile(context.Background(), f.load(t, edited), allLocal(f.load(t, edited)), ReconcileOptions{})
	if err == nil || !strings.Contains(err.Error(), "exited before it accepted") {
		t.Fatalf("reconcile: %v, want the exec's failure", err)
	}
	// The process's exit was seen (the reconcile's error says so); its
	// reporter has decided by the time the topology stops.
	f.run.Stop()
	select {
	case e := <-f.run.ExecExited():
		t.Errorf("the failed exec's exit was reported as one that stops the topology: %v", e)
	default:
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node replaced (a new identity) keeps the ports its listener and
// inlets bound for a port 0 of the file: whoever found it there finds it
// again.
func TestReplacedNodeKeepsItsPorts(t *testing.T) {
	base := `
node "n2" {
  tcp_listener = "127.0.0.1:0"
  identity     = "ID_A"
  tcp_outlet "out" {
    to = "127.0.0.1:TARGET_A"
  }
  tcp_inlet "web" {
    from = "127.0.0.1:0"
    to   = "/service/out"
  }
}
`
	f := startForget(t, base, true)
	listener, inlet := f.run.Listeners()["n2"], f.run.Inlets()["n2.web"]
	edited := strings.Replace(base, `"ID_A"`, `"ID_B"`, 1)
	d, err := f.run.Reconcile(context.Background(), f.load(t, edited), allLocal(f.load(t, edited)), ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.node(t, "n2").Identifier; got != f.idB {
		t.Fatalf("n2 has identifier %s, want %s; plan %v", got, f.idB, d.Lines())
	}
	if got := f.run.Listeners()["n2"]; got != listener {
		t.Errorf("n2 listens on %s, was %s", got, listener)
	}
	if got := f.run.Inlets()["n2.web"]; got != inlet {
		t.Errorf("inlet web listens on %s, was %s", got, inlet)
	}
}
