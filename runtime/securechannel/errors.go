package securechannel

import "errors"

// Errors of secure channels.
var (
	// ErrClosed is a message to a closed channel.
	ErrClosed = errors.New("secure channel closed")
	// ErrUntrusted is a peer whose identifier the listener does not trust.
	ErrUntrusted = errors.New("identifier not trusted")
	// ErrRefused is a channel whose listener refused the initiator (it
	// said so, with a Close), or that the listener never confirmed (no
	// echo came through it in time).
	ErrRefused = errors.New("secure channel refused or not completed")
)
