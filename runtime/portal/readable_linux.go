package portal

import (
	"io"
	"net"
	"os"
	"syscall"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// waitReadable blocks until sock has something to read, holding no read
// buffer (splice.WaitReadable): an idle portal stream waits here, so that
// thousands of them cost little memory.
func waitReadable(sock *net.TCPConn) error {
	raw, err := sock.SyscallConn()
	if err != nil {
		return nil
	}
	return splice.WaitReadable(raw)
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
