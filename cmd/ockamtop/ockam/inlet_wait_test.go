package ockam

import (
	"slices"
	"strings"
	"testing"
)

// TestInletWaitsForItsOutlet: an inlet whose route does not walk yet
// waits, out of the topology, which still plans and says why; the outlet
// created, the inlet joins.
func TestInletWaitsForItsOutlet(t *testing.T) {
	t.Parallel()
	h := home{dir: t.TempDir()}
	if _, err := h.loadIdentity(defaultIdentity, true); err != nil {
		t.Fatal(err)
	}
	s := &Session{Nodes: []*Node{
		{Name: "n1", Listener: "127.0.0.1:7001"},
		{Name: "n3", Listener: "127.0.0.1:7003"},
	}}
	n1, n3 := s.Nodes[0], s.Nodes[1]
	n1.Inlets = append(n1.Inlets, Inlet{Alias: "web", From: "127.0.0.1:6000", To: "/node/n3/service/outlet"})
	why := s.waitIfUnwalkable(h, n1, "web")
	if !strings.Contains(why, `no address "outlet"`) {
		t.Fatalf("waiting for %q", why)
	}
	src := string(s.HCL(""))
	if !strings.Contains(src, `# tcp_inlet "web" (from 127.0.0.1:6000 to /node/n3/service/outlet) is left out: it waits for its outlet.`) {
		t.Errorf("the file does not say why the inlet is left out:\n%s", src)
	}
	if _, err := s.plan(h); err != nil {
		t.Fatalf("the session with a waiting inlet does not plan: %v", err)
	}
	if joined, _ := s.settleInlets(h); len(joined) != 0 {
		t.Errorf("joined %v with no outlet", joined)
	}
	n3.Outlets = append(n3.Outlets, Outlet{Name: "outlet", To: "127.0.0.1:9000"})
	if joined, _ := s.settleInlets(h); !slices.Equal(joined, []string{"n1"}) {
		t.Errorf("joined %v, want [n1]", joined)
	}
	if n1.Inlets[0].Waiting != "" || !strings.Contains(string(s.HCL("")), `tcp_inlet "web" {`) {
		t.Errorf("the inlet did not join the topology:\n%s", s.HCL(""))
	}
	if why := s.waitIfUnwalkable(h, n1, "web"); why != "" {
		t.Errorf("an inlet whose route walks waits: %s", why)
	}

	// The outlet deleted: the started inlet waits again.
	n3.Outlets = nil

	if !s.inletsWait(h) {
		t.Fatal("the inlets do not wait")
	}
	if joined, waits := s.settleInlets(h); len(joined) != 0 || len(waits) != 1 || waits[0].alias != "web" || !strings.Contains(waits[0].why, `no address "outlet"`) {
		t.Errorf("joined %v, waits %v", joined, waits)
	}
	if _, err := s.plan(h); err != nil {
		t.Errorf("the session does not plan with the inlet waiting: %v", err)
	}
	// An error that is not an inlet's is the change's.
	n3.Relays = []Relay{{Name: "r", At: "n9"}}
	if s.inletsWait(h) || n1.Inlets[0].Waiting == demoted {
		t.Error("inletsWait took an error that is not an inlet's")
	}
	n3.Relays = nil

	if err := inletRouteNodes(s, "/node/n9/service/outlet"); err == nil {
		t.Error("a route through a node the session does not have was accepted")
	}
}
