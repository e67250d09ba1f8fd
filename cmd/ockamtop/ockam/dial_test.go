package ockam

import (
	"encoding/json"
	"testing"
)

// TestPeersReadTheSessionWhenItChanges: a node's process may dial, for a
// message from the network, the listener of a node created after it,
// which it was not told of, and not a listener no node of the session
// has.
func TestPeersReadTheSessionWhenItChanges(t *testing.T) {
	t.Parallel()
	h := home{dir: t.TempDir()}
	save := func(s *Session) {
		t.Helper()
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeAtomic(h.stateFile(), b); err != nil {
			t.Fatal(err)
		}
	}
	p := &peers{home: h}
	if p.mayDial("127.0.0.1:7000") {
		t.Error("no session yet: dialled 127.0.0.1:7000")
	}
	save(&Session{Nodes: []*Node{{Name: "n1", Listener: "127.0.0.1:7000"}}})
	if !p.mayDial("127.0.0.1:7000") || !p.mayDial("localhost:7000") {
		t.Error("n1's listener refused")
	}
	if p.mayDial("127.0.0.1:7001") {
		t.Error("a listener no node has was allowed")
	}
	save(&Session{Nodes: []*Node{{Name: "n1", Listener: "127.0.0.1:7000"}, {Name: "n3-created-later", Listener: "127.0.0.1:7001"}}})
	if !p.mayDial("127.0.0.1:7001") {
		t.Error("the listener of a node created later refused")
	}
	save(&Session{Nodes: []*Node{{Name: "n1", Listener: "127.0.0.1:7000", TCPListeners: []TCPListener{{SocketAddr: "127.0.0.1:7100"}}}}})
	if !p.mayDial("127.0.0.1:7100") {
		t.Error("a listener tcp-listener create added refused")
	}
	save(&Session{Nodes: []*Node{{Name: "n3-created-later", Listener: "127.0.0.1:7001"}}})
	if p.mayDial("127.0.0.1:9") || p.mayDial("127.0.0.1:7000") {
		t.Error("the listener of a deleted node allowed")
	}
}
