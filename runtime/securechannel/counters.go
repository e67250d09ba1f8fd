package securechannel

import "sync/atomic"

// counters are a node's secure channel counters, kept by its Channels.
type counters struct {
	handshakes, refused atomic.Uint64
	sealed, opened      atomic.Uint64
	failures, rekeys    atomic.Uint64
}

// Counters is a snapshot of a node's secure channels: read when asked
// (metrics), never on the data path.
type Counters struct {
	// Handshakes counts the channels established, as initiator or
	// responder; Refused those refused, by this node's listener (an
	// untrusted initiator) or by the listener this node opened a channel
	// to (or not confirmed by it).
	Handshakes, Refused uint64
	// MessagesOut and MessagesIn count the messages encrypted and
	// decrypted.
	MessagesOut, MessagesIn uint64
	// DecryptFailures counts the messages dropped because they did not
	// decrypt (tampered, replayed, or not of the channel) or held no
	// message.
	DecryptFailures uint64
	// Rekeys counts the encryption keys renewed (every 32 messages).
	Rekeys uint64
	// Open is how many channel sides are established now.
	Open int
}

// Counters returns a snapshot of the node's secure channel counters.
func (s *Channels) Counters() Counters {
	c := &s.counters
	s.mu.Lock()
	open := len(s.channels)
	s.mu.Unlock()
	return Counters{
		Handshakes: c.handshakes.Load(), Refused: c.refused.Load(),
		MessagesOut: c.sealed.Load(), MessagesIn: c.opened.Load(),
		DecryptFailures: c.failures.Load(), Rekeys: c.rekeys.Load(),
		Open: open,
	}
}
