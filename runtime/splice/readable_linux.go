package splice

import (
	"os"
	"syscall"
	"unsafe"
)

// WaitReadable blocks until raw's socket has something to read (data, its
// end, or an error) without a buffer of the caller's: a reader that waits
// here holds none, so that thousands of idle sockets cost little memory.
// It peeks one byte into its own stack, which the read that follows reads
// again. It returns the wait's error (a read deadline, a closed socket),
// or the socket's error that the peek took: a reset is reported once, and
// the read that follows would see a clean end instead.
func WaitReadable(raw syscall.RawConn) error {
	var serr error
	werr := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			case 0:
			default:
				serr = os.NewSyscallError("read", errno)
			}
			return true
		}
	})
	if werr != nil {
		return werr
	}
	return serr
}
