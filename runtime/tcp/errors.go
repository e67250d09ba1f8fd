package tcp

import "errors"

// Why a TCP connection closed. Callers match them with errors.Is; the
// reasons logged wrap them with what happened.
var (
	// ErrHandshake is a peer whose first byte is not our protocol version.
	ErrHandshake = errors.New("transport handshake failed")
	// ErrBadFrames is a connection closed because its peer sent a run of
	// frames that hold no valid message.
	ErrBadFrames = errors.New("too many bad frames")
	// ErrPeerTimeout is a connection closed because its peer kept it
	// without using it: no first frame, or a frame that stalled.
	ErrPeerTimeout = errors.New("peer too slow")
)
