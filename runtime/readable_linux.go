package runtime

import (
	"net"
	"syscall"
	"unsafe"
)

// waitReadable blocks until sock has something to read (data, EOF or an
// error) without a buffer of the caller's: an idle portal stream waits here
// holding no read buffer, so that thousands of them cost little memory. It
// peeks one byte into its own stack, which the read that follows reads
// again. It returns the wait's error (a deadline); any other failure is
// left for that read to report.
func waitReadable(sock *net.TCPConn) error { return peek(sock) }

// peek waits until sock is readable.
func peek(sock *net.TCPConn) error {
	raw, err := sock.SyscallConn()
	if err != nil {
		return nil
	}
	return raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		return errno != syscall.EAGAIN
	})
}
