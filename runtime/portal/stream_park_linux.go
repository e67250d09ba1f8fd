package portal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// A parked stream waits for its socket with no goroutine at all. Its
// reader, once the stream has been quiet for idleRestart (pokeIfIdle),
// puts the socket in its inlet's or outlet's epoll instance, one-shot,
// and ends; the set's one parker goroutine starts a reader again when the
// socket has something (data, its end, an error). An idle stream then
// costs its records and its socket, not a goroutine's stack (2 KiB, and
// what the goroutine itself takes).
//
// The epoll instance is separate from Go's: Go's netpoller keeps the
// socket too, and the reader that starts again reads it as before. The
// parker waits on the epoll instance's own descriptor through Go's
// netpoller, so that closing it (the set's sweeper does, as it ends) ends
// the parker.

// parker is a set's epoll instance for its parked streams.
type parker struct {
	file *os.File
	raw  syscall.RawConn

	mu sync.Mutex
	// streams are the parked streams by their key, which their epoll
	// event carries; next is the next key to try.
	streams map[uint32]*portalStream // guarded by mu
	next    uint32                   // guarded by mu
}

// parkEvents is what wakes a parked stream: data or its end (EPOLLERR
// and EPOLLHUP are always reported), once.
const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newParker makes an epoll instance that Go's netpoller watches.
func newParker() (*parker, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	file := os.NewFile(uintptr(fd), "portal idle streams")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("epoll instance: %w", err)
	}
	return &parker{file: file, raw: raw, streams: map[uint32]*portalStream{}}, nil
}

// park puts s's socket in the epoll instance: false if it could not (the
// socket is closed, or the instance is), and the reader goes on.
func (p *parker) park(s *portalStream) bool {
	p.mu.Lock()
	key := p.next
	for p.streams[key] != nil || key == 0 {
		key++
	}
	p.next = key + 1
	p.streams[key] = s
	s.parkKey = key
	p.mu.Unlock()
	var err error
	cerr := s.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(key)}
		perr := p.raw.Control(func(ep uintptr) {
			err = syscall.EpollCtl(int(ep), syscall.EPOLL_CTL_ADD, int(fd), &ev)
		})
		err = errors.Join(err, perr)
	})
	if err == nil && cerr == nil {
		return true
	}
	p.unpark(s)
	return false
}

// unpark takes s out of the parked streams, if it is one: it has closed,
// or is about to be woken.
func (p *parker) unpark(s *portalStream) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.parkKey == 0 {
		return false
	}
	delete(p.streams, s.parkKey)
	s.parkKey = 0
	return true
}

// run wakes parked streams as their sockets become readable, until the
// epoll instance is closed. wake starts a stream's reader.
func (p *parker) run(wake func(*portalStream)) {
	events := make([]syscall.EpollEvent, 64)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(ep uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(ep), events, 0)
				if werr != syscall.EINTR {
					return n > 0 || werr != nil
				}
			}
		})
		if err != nil || werr != nil {
			return // closed (or, never seen, broken: the streams' keepalives end them)
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			s := p.streams[uint32(ev.Fd)]
			if s != nil {
				delete(p.streams, s.parkKey)
				s.parkKey = 0
			}
			p.mu.Unlock()
			if s == nil {
				continue // closed meanwhile
			}
			// Out of the instance, so that it can be parked again; a
			// closed socket has left it already.
			_ = s.raw.Control(func(fd uintptr) {
				_ = p.raw.Control(func(ep uintptr) {
					_ = syscall.EpollCtl(int(ep), syscall.EPOLL_CTL_DEL, int(fd), nil)
				})
			})
			wake(s)
		}
	}
}

// takeAll takes every stream out of the parked streams, once run has
// ended.
func (p *parker) takeAll() []*portalStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	streams := make([]*portalStream, 0, len(p.streams))
	for key, s := range p.streams {
		s.parkKey = 0
		delete(p.streams, key)
		streams = append(streams, s)
	}
	return streams
}

// count is how many streams are parked.
func (p *parker) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.streams)
}

// close ends run.
func (p *parker) close() { _ = p.file.Close() }

// parkSupported says whether an idle stream can be parked here.
const parkSupported = true
