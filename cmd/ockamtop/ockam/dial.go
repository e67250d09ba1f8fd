package ockam

import (
	"encoding/json"
	"os"
	"sync"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
)

// A node's process runs the session's plan as it was when the node last
// changed, and is not told of the nodes created since: telling each
// running node of each node create made it cost a plan in every node's
// process, so that creating the 101st node took 338 ms median. What a
// node needs of a node created later is to dial it, for a message from
// the network that goes on there (a bridge: n1 -> n2 -> n3, n3 created
// after n2); the routes it walks itself (message send, its own inlets,
// relays and channels) are walked on the session as it is when the
// command runs. So a node's process may dial, for a message from the
// network, the listeners of the session's nodes (their own, and those
// tcp-listener create added) as the session is when it dials: the
// session's state file, read again when it has changed.

// peers is the listeners of the session's nodes, read from the state
// file of a home.
type peers struct {
	home home

	mu sync.Mutex
	// listeners are the listeners of the session's nodes, as of the
	// state file read (each save replaces the file). Guarded by mu.
	listeners map[string]bool
	read      os.FileInfo
}

// mayDial reports whether hostport is the listener of a node of the
// session.
func (p *peers) mayDial(hostport string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A stat a dial: a message from the network dials only for a
	// connection that is not open yet.
	fi, err := os.Stat(p.home.stateFile())
	if err != nil {
		return false
	}
	if p.read == nil || !os.SameFile(fi, p.read) || !fi.ModTime().Equal(p.read.ModTime()) || fi.Size() != p.read.Size() {
		p.reread(fi)
	}
	return p.listeners[normalHostPort(hostport)]
}

// reread reads the listeners of the state file of fi. Guarded by mu.
func (p *peers) reread(fi os.FileInfo) {
	b, err := os.ReadFile(p.home.stateFile())
	if err != nil {
		return
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return // a file being written is replaced whole: this is not one
	}
	p.listeners = map[string]bool{}
	for _, n := range s.Nodes {
		p.listeners[normalHostPort(n.Listener)] = true
		for _, l := range n.TCPListeners {
			p.listeners[normalHostPort(l.SocketAddr)] = true
		}
	}
	p.read = fi
}

// transports are a node process's TCP and UDP transports, whose dials for
// messages from the network p allows. (The session's nodes have no UDP
// listeners: a message from the network may make none dial by UDP.)
func (p *peers) transports() []runtime.NewTransport {
	return []runtime.NewTransport{tcp.With(tcp.Options{MayDial: p.mayDial}), udp.With(udp.Options{})}
}
