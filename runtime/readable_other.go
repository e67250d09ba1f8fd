//go:build !linux

package runtime

import "net"

// waitReadable returns at once where there is no buffer-free wait: the
// reader then waits in its read, on its small buffer.
func waitReadable(*net.TCPConn) error { return nil }
