package splice

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Pipe is a kernel pipe, held by one message at a time.
type Pipe struct {
	r, w int
	// held is how many bytes are in it.
	held int
}

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	spliceMore     = 0x4 // SPLICE_F_MORE
	fSetPipeSize   = 1031
	fionread       = 0x541b // FIONREAD, SIOCINQ
)

// pipeSize is the capacity asked for each pipe: a spliced payload is at
// most a portal's large chunk (512 KiB), and the socket's data may come in
// many pieces, each a slot of the pipe. A pipe that cannot take it all
// stalls, and its message is read into memory instead (FillExactly).
const pipeSize = 1 << 20

// maxPipes bounds the pipes in use at once, two descriptors each: past it,
// payloads go through memory, so that a busy node never runs out of
// descriptors for sockets. pipesKept is how many idle ones are kept.
const (
	maxPipes  = 256
	pipesKept = 16
)

// pipeCapacity, when set, replaces pipeSize (tests: SetCapacity).
var pipeCapacity atomic.Int64

// pipes is the process's pool of pipes.
var pipes struct {
	mu    sync.Mutex
	free  []*Pipe
	inUse int
	taken uint64 // pipes handed out, ever (tests)
}

// GetPipe returns an empty pipe, or nil when none can be had (too many in
// use, or the system refuses one): the caller then goes through memory.
func GetPipe() *Pipe {
	pipes.mu.Lock()
	if n := len(pipes.free); n > 0 {
		p := pipes.free[n-1]
		pipes.free = pipes.free[:n-1]
		pipes.inUse++
		pipes.taken++
		pipes.mu.Unlock()
		return p
	}
	if pipes.inUse+len(pipes.free) >= maxPipes {
		pipes.mu.Unlock()
		return nil
	}
	pipes.inUse++
	pipes.taken++
	pipes.mu.Unlock()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		pipes.mu.Lock()
		pipes.inUse--
		pipes.mu.Unlock()
		return nil
	}
	// Best effort: a smaller pipe only stalls sooner.
	size := cmp.Or(pipeCapacity.Load(), pipeSize)
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSize, uintptr(size))
	return &Pipe{r: fds[0], w: fds[1]}
}

// Held is how many bytes the pipe holds.
func (p *Pipe) Held() int { return p.held }

// Release gives the pipe back: to the pool if it is empty, closed if it
// still holds bytes (nobody will read them) or the pool is full.
func (p *Pipe) Release() {
	pipes.mu.Lock()
	pipes.inUse--
	if p.held == 0 && len(pipes.free) < pipesKept {
		pipes.free = append(pipes.free, p)
		pipes.mu.Unlock()
		return
	}
	pipes.mu.Unlock()
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// PipesInUse counts the pipes taken and not yet given back: a test that
// ends with some held has leaked them.
func PipesInUse() int {
	pipes.mu.Lock()
	defer pipes.mu.Unlock()
	return pipes.inUse
}

// Spliceable returns a socket's descriptor when it can feed or take a
// pipe.
func Spliceable(c any) (syscall.RawConn, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	return raw, err == nil
}

// ErrPipeFull is a pipe that took less than it had to: its message goes
// through memory instead.
var ErrPipeFull = errors.New("pipe full")

// Fill moves what the socket has, up to max bytes, into the pipe,
// waiting until it has something. 0 bytes and io.EOF: the peer closed.
func (p *Pipe) Fill(raw syscall.RawConn, max int) (int, error) {
	var got int
	var ferr error
	err := raw.Read(func(fd uintptr) bool {
		for got < max {
			n, err := splice(int(fd), p.w, max-got, spliceMove|spliceNonblock)
			switch {
			case n > 0:
				got += int(n)
				p.held += int(n)
				continue
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return got > 0 || socketBuffered(fd) > 0 // something, or a full pipe
			case err != nil:
				ferr = err
			default:
				ferr = io.EOF
			}
			return true
		}
		return true
	})
	if ferr == nil {
		ferr = err
	}
	if got > 0 {
		ferr = nil // what came is sent; the next read meets the error again
	}
	return got, ferr
}

// FillExactly moves exactly n bytes from the socket into the pipe, waiting
// for them. ErrPipeFull: the pipe took only some (Held says how many);
// the rest are still in the socket.
func (p *Pipe) FillExactly(raw syscall.RawConn, n int) error {
	left := n
	var ferr error
	err := raw.Read(func(fd uintptr) bool {
		for left > 0 {
			k, err := splice(int(fd), p.w, left, spliceMove|spliceNonblock)
			switch {
			case k > 0:
				left -= int(k)
				p.held += int(k)
				continue
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				if socketBuffered(fd) > 0 {
					ferr = ErrPipeFull
					return true
				}
				return false // wait for the rest
			case err != nil:
				ferr = err
			default:
				ferr = io.ErrUnexpectedEOF
			}
			return true
		}
		return true
	})
	if ferr == nil {
		ferr = err
	}
	return ferr
}

// Drain moves all the pipe holds into the socket, waiting while it is
// full. It reports how many bytes it moved. more says that the caller
// writes more of the same frame next: the kernel holds the end back for it.
func (p *Pipe) Drain(raw syscall.RawConn, more bool) (int, error) {
	flags := spliceMove | spliceNonblock
	if more {
		flags |= spliceMore
	}
	moved := 0
	var derr error
	err := raw.Write(func(fd uintptr) bool {
		for p.held > 0 {
			k, err := splice(p.r, int(fd), p.held, flags)
			switch {
			case k > 0:
				moved += int(k)
				p.held -= int(k)
				continue
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // the socket is full: wait
			case err != nil:
				derr = err
			default:
				derr = io.ErrUnexpectedEOF
			}
			return true
		}
		return true
	})
	if derr == nil {
		derr = err
	}
	return moved, derr
}

// Put writes b into the pipe (a few hundred bytes at most: what a reader
// had buffered of a payload).
func (p *Pipe) Put(b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(p.w, b)
		if n > 0 {
			p.held += n
			b = b[n:]
			continue
		}
		if err == syscall.EINTR {
			continue
		}
		if err == nil || err == syscall.EAGAIN {
			err = ErrPipeFull
		}
		return err
	}
	return nil
}

// Take reads the pipe's bytes into b, which must hold them all.
func (p *Pipe) Take(b []byte) error {
	if len(b) < p.held {
		return fmt.Errorf("pipe holds %d bytes, room for %d", p.held, len(b))
	}
	off := 0
	for p.held > 0 {
		n, err := syscall.Read(p.r, b[off:off+p.held])
		if n > 0 {
			off += n
			p.held -= n
			continue
		}
		if err == syscall.EINTR {
			continue
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read pipe: %w", err)
	}
	return nil
}

// WriteMore writes b to the socket with MSG_MORE: the kernel holds it for
// the splice that follows, so that a frame's head and payload leave
// together.
func WriteMore(raw syscall.RawConn, b []byte) (int, error) {
	written := 0
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for written < len(b) {
			n, err := syscall.SendmsgN(int(fd), b[written:], nil, nil, syscall.MSG_MORE|syscall.MSG_NOSIGNAL)
			switch {
			case n > 0:
				written += n
				continue
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				werr = err
			default:
				werr = io.ErrShortWrite
			}
			return true
		}
		return true
	})
	if werr == nil {
		werr = err
	}
	return written, werr
}

// socketBuffered is how many bytes a socket has to read (FIONREAD).
func socketBuffered(fd uintptr) int {
	var n int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, fionread, uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return 0
	}
	return int(n)
}

// WriteNow writes what of b it can to the socket without waiting: the
// count written, 0 if the socket is full (or failed: the writer finds
// out).
func WriteNow(raw syscall.RawConn, b []byte) int {
	written := 0
	_ = raw.Write(func(fd uintptr) bool {
		for written < len(b) {
			n, err := syscall.Write(int(fd), b[written:])
			if n > 0 {
				written += n
				continue
			}
			if err != syscall.EINTR {
				break
			}
		}
		return true // never wait
	})
	return written
}

// DrainNow moves what of the pipe the socket takes at once, without
// waiting, and reports how many bytes.
func (p *Pipe) DrainNow(raw syscall.RawConn) int {
	moved := 0
	_ = raw.Write(func(fd uintptr) bool {
		for p.held > 0 {
			k, err := splice(p.r, int(fd), p.held, spliceMove|spliceNonblock)
			if k > 0 {
				moved += int(k)
				p.held -= int(k)
				continue
			}
			if err != syscall.EINTR {
				break
			}
		}
		return true // never wait
	})
	return moved
}

// splice moves up to n bytes from in to out, one of them a pipe. It is a
// raw system call, which the Go scheduler does not see. Every splice here
// is non-blocking (the sockets are, and spliceNonblock makes the pipe so)
// and moves at most a pipe's worth, so it returns within a fraction of a
// millisecond, as a computation of that length would; made the usual way,
// a 512 KiB splice is long enough (tens of µs, more when the kernel
// preempts the thread in it) for the scheduler's monitor to hand the
// goroutine's P to another thread, which the splicing thread must then get
// back. In alternating portalbench runs (8 each) this took ockamtop's CPU
// per GiB from 0.70 to 0.65 s on the 3-node path, 0.47 to 0.44 on the
// 2-node one.
func splice(in, out, n int, flags int) (int, error) {
	k, _, errno := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), uintptr(flags))
	if errno != 0 {
		return 0, errno
	}
	return int(k), nil
}
