package portal

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/ockamtop/ockamtop/runtime"
)

// waitReadable blocks until sock has something to read (data, EOF or an
// error) without a buffer of the caller's: an idle portal stream waits here
// holding no read buffer, so that thousands of them cost little memory. It
// peeks one byte into its own stack, which the read that follows reads
// again. It returns the wait's error (a deadline), or the socket's error
// that the peek took: a reset is reported once, and the read that follows
// would see a clean end instead.
func waitReadable(sock *net.TCPConn) error { return peek(sock) }

// peek waits until sock is readable.
func peek(sock *net.TCPConn) error {
	raw, err := sock.SyscallConn()
	if err != nil {
		return nil
	}
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

// readReady waits until the socket has something, then reads up to n
// bytes of it into a small pooled buffer at off, taken only once there is
// something to read: a wait holds no buffer. The buffer is nil when the
// wait failed (a deadline, a closed socket); k = 0 with io.EOF is the
// peer's end.
func readReady(raw syscall.RawConn, off, n int) (buf *[]byte, k int, err error) {
	var rerr error
	werr := raw.Read(func(fd uintptr) bool {
		b := runtime.GetSmallBuffer()
		for {
			m, e := syscall.Read(int(fd), (*b)[off:off+n])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				runtime.PutBuffer(b)
				return false
			case e != nil:
				rerr = os.NewSyscallError("read", e)
			case m == 0:
				rerr = io.EOF
			default:
				k = m
			}
			buf = b
			return true
		}
	})
	if werr != nil {
		return nil, 0, werr
	}
	return buf, k, rerr
}
