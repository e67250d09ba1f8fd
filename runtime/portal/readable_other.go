//go:build !linux

package portal

import (
	"net"
	"syscall"
)

// waitReadable returns at once where there is no buffer-free wait: the
// reader then waits in its read, on its small buffer.
func waitReadable(*net.TCPConn) error { return nil }

// readReady is never called where there is no raw socket access (a stream
// without raw waits and reads as usual).
func readReady(syscall.RawConn, int, int) (*[]byte, int, error) { return nil, 0, nil }
