package udp

import "github.com/ockamtop/ockamtop/runtime"

// What the package's external tests see of its inside.

// Bounds of the transport.
const (
	PeerPending  = udpPeerPending
	MaxPeers     = udpMaxPeers
	SocketBuffer = udpSocketBuffer
	ReadBuffer   = udpReadBuffer
)

// Pending counts the bytes of n's incomplete messages, of every peer.
func Pending(n *runtime.Node) int64 {
	t, _ := of(n)
	return t.pending.Load()
}

// FirstListener is n's first UDP listener.
func FirstListener(n *runtime.Node) *Listener {
	t, _ := of(n)
	return t.conns.Listeners()[0]
}

// PeerCount is how many peers l keeps.
func (l *Listener) PeerCount() int { return l.peerCount() }
