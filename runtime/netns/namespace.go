//go:build linux

// Package netns gives nodes networks of their own on one Linux machine, as
// containerlab does: each node a network namespace, each network a bridge
// that the nodes' interfaces are plugged into. Everything it makes is held
// by this process only, by file descriptor, never by a mount under
// /var/run/netns: when the process ends, however it ends (kill -9
// included), the kernel frees the namespaces, and with them every
// interface in them. No interface is ever made in the host's namespace.
//
// A socket belongs to the namespace of the thread that made it, for its
// whole life. Namespace.Do runs a function on a thread that has entered
// the namespace, so that the sockets it makes are made there, while the
// process, its goroutines and its other sockets stay where they are.
package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace this process made and holds by a file
// descriptor. It lives until Close, or until the process ends.
type Namespace struct {
	// mu guards f: Do and Close may race at shutdown.
	mu sync.RWMutex
	f  *os.File // nil once closed
	// inode identifies the namespace (as /proc/PID/ns/net links show it).
	inode uint64
}

// ErrClosed is returned by Do on a closed namespace.
var ErrClosed = errors.New("network namespace closed")

// New makes a network namespace. It has a loopback interface, down, and
// nothing else.
//
// The namespace is made on a thread locked for the time (unshare changes
// the namespace of the calling thread), which then goes back to the
// host's namespace; see enter.
func New() (*Namespace, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		r.err = onThread(func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("make a network namespace: unshare: %w", err)
			}
			var err error
			if r.f, err = os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())); err != nil {
				return fmt.Errorf("make a network namespace: %w", err)
			}
			return nil
		})
		if r.err != nil && r.f != nil {
			r.f.Close()
			r.f = nil
		}
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(r.f.Fd()), &st); err != nil {
		r.f.Close()
		return nil, fmt.Errorf("make a network namespace: %w", err)
	}
	return &Namespace{f: r.f, inode: st.Ino}, nil
}

// Do runs f on an OS thread that has entered the namespace, and returns
// f's error. The sockets f makes belong to the namespace; so do the
// processes it starts (they are made by cloning the thread). The thread
// is locked to f's goroutine until it is back in the host's namespace, so
// that no other goroutine ever runs in the namespace by accident.
func (ns *Namespace) Do(f func() error) error {
	ns.mu.RLock()
	if ns.f == nil {
		ns.mu.RUnlock()
		return ErrClosed
	}
	fd := int(ns.f.Fd())
	entered := make(chan error, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- onThread(func() error {
			err := unix.Setns(fd, unix.CLONE_NEWNET)
			if err != nil {
				err = fmt.Errorf("enter network namespace %d: %w", ns.inode, err)
			}
			entered <- err
			if err != nil {
				return nil
			}
			return f()
		})
	}()
	// The descriptor is needed until the thread is in: Close may go on
	// from then, while f runs (a process started in the namespace holds
	// it by itself).
	err := <-entered
	ns.mu.RUnlock()
	if err != nil {
		<-errc
		return err
	}
	return <-errc
}

// host is the host's network namespace, that of the process's threads,
// to which a thread that entered another goes back. It is opened once,
// on the first use, before any thread has left it.
var host = sync.OnceValues(func() (*os.File, error) {
	var f *os.File
	err := onThreadOnly(func() (err error) {
		f, err = os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open the host's network namespace: %w", err)
	}
	return f, nil
})

// onThread runs f locked to an OS thread, then takes the thread back to
// the host's namespace. A thread that cannot go back (in a user namespace
// of its own, this process may enter the namespaces it made but not
// return to the host's, which the host's user namespace owns) stays
// locked: its goroutine ends, and the Go runtime ends the thread with it,
// so it never runs anything else in the wrong namespace. (The process's
// main thread cannot end; the runtime parks it for good instead, so a
// process that may not return locks its main goroutine to it at start,
// keeping it out of here: see cmd/ockamtop.)
func onThread(f func() error) error {
	h, err := host()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	err = f()
	if unix.Setns(int(h.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return err
}

// onThreadOnly runs f locked to an OS thread, without moving it.
func onThreadOnly(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return f()
}

// Inode is the namespace's inode number, its identity: /proc/PID/ns/net
// of a process in it links to net:[INODE].
func (ns *Namespace) Inode() uint64 { return ns.inode }

// Path is a path that names the namespace while this process holds it
// (for nsenter --net=PATH), "" once it is closed.
func (ns *Namespace) Path() string {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	if ns.f == nil {
		return ""
	}
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.f.Fd())
}

// Close lets the namespace go: the kernel frees it, and every interface
// in it, once nothing else holds it (a socket made in it, a process
// running in it).
func (ns *Namespace) Close() error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.f == nil {
		return nil
	}
	err := ns.f.Close()
	ns.f = nil
	return err
}
