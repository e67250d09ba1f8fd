package deploy

import (
	"context"
	"fmt"
	"net"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/topology"
)

// listenerUnit runs a node's TCP listener, and makes its real port known
// to whoever references the node.
var listenerUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, ln net.Listener) (partRun, error) {
		tn := p.Model.(*topology.Node)
		var l *tcp.Listener
		var err error
		if ln != nil {
			l, err = tcp.ListenOn(n, ln)
		} else {
			l, err = tcp.Listen(n, tn.Listener)
		}
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: p.Where.String(), Err: err}
		}
		r.mu.Lock()
		r.entry(tn.Name).listener = l.Addr()
		r.mu.Unlock()
		r.progress(fmt.Sprintf("✔ node %s listening on %s", tn.Name, l.Addr()))
		return &listenerRun{node: tn.Name, l: l}, nil
	},
	binds: func(p topology.Part) (string, string) { return p.Model.(*topology.Node).Listener, p.Where.String() },
}

// listenerRun is a running TCP listener. A listener that stops keeps the
// connections it accepted.
type listenerRun struct {
	node string
	l    *tcp.Listener
}

func (l *listenerRun) stop(r *Running) {
	r.mu.Lock()
	if rn := r.nodes[l.node]; rn != nil {
		rn.listener = ""
	}
	r.mu.Unlock()
	_ = l.l.Close()
}

func (l *listenerRun) state() string { return stateUp }

func (l *listenerRun) boundAddr() string { return l.l.Addr() }

// tcpListenersUnit runs one of a node's tcp_listeners: a TCP listener
// beside the node's own, which takes connections as the node's own does.
// It starts and stops alone, the node's other parts untouched.
var tcpListenersUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, ln net.Listener) (partRun, error) {
		tl := p.Model.(*topology.TCPListener)
		var l *tcp.Listener
		var err error
		if ln != nil {
			l, err = tcp.ListenOn(n, ln)
		} else {
			l, err = tcp.Listen(n, tl.Address)
		}
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("tcp_listeners %s of node %q", p.Name, tl.Node.Name), Where: p.Where.String(), Err: err}
		}
		r.progress(fmt.Sprintf("✔ node %s listening also on %s", tl.Node.Name, l.Addr()))
		return &tcpListenersRun{l: l}, nil
	},
	binds: func(p topology.Part) (string, string) {
		return p.Model.(*topology.TCPListener).Address, p.Where.String()
	},
}

// tcpListenersRun is a running tcp_listeners listener. Like the node's
// own, it keeps the connections it accepted when it stops.
type tcpListenersRun struct{ l *tcp.Listener }

func (l *tcpListenersRun) stop(*Running) { _ = l.l.Close() }

func (l *tcpListenersRun) state() string { return stateUp }

func (l *tcpListenersRun) boundAddr() string { return l.l.Addr() }

// udpListenerUnit runs a node's UDP listener, and makes its real port
// known to whoever references the node.
var udpListenerUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		tn := p.Model.(*topology.Node)
		l, err := udp.Listen(n, tn.UDPListener)
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("node %q", tn.Name), Where: p.Where.String(), Err: err}
		}
		r.mu.Lock()
		r.entry(tn.Name).udpListener = l.Addr()
		r.mu.Unlock()
		r.progress(fmt.Sprintf("✔ node %s listening on udp %s", tn.Name, l.Addr()))
		return &udpListenerRun{node: tn.Name, l: l}, nil
	},
}

// udpListenerRun is a running UDP listener.
type udpListenerRun struct {
	node string
	l    *udp.Listener
}

func (l *udpListenerRun) state() string { return stateUp }

func (l *udpListenerRun) boundAddr() string { return l.l.Addr() }

func (l *udpListenerRun) stop(r *Running) {
	r.mu.Lock()
	if rn := r.nodes[l.node]; rn != nil {
		rn.udpListener = ""
	}
	r.mu.Unlock()
	_ = l.l.Close()
}
