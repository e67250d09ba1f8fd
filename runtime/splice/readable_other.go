//go:build !linux

package splice

import "syscall"

// WaitReadable returns at once where there is no buffer-free wait: the
// reader then waits in its read, on its buffer.
func WaitReadable(syscall.RawConn) error { return nil }
