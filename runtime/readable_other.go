//go:build !linux

package runtime

import (
	"net"
	"time"
)

// waitReadable returns at once where there is no buffer-free wait: the
// reader then waits in its read, on its small buffer.
func waitReadable(*net.TCPConn) {}

// waitReadableFor returns true at once: the reader never restarts.
func waitReadableFor(*net.TCPConn, time.Duration) bool { return true }
