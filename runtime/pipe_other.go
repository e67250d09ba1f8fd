//go:build !linux

package runtime

import (
	"errors"
	"syscall"
)

// Without splice(2) there are no pipes: getPipe always says none, and
// every payload goes through memory.

type pipe struct{ held int }

var errNoSplice = errors.New("splice is not supported on this system")

func getPipe() *pipe                                       { return nil }
func (p *pipe) release()                                   {}
func pipesInUse() int                                      { return 0 }
func spliceable(any) (syscall.RawConn, bool)               { return nil, false }
func (p *pipe) fillSome(syscall.RawConn, int) (int, error) { return 0, errNoSplice }
func (p *pipe) fillExactly(syscall.RawConn, int) error     { return errNoSplice }
func (p *pipe) drainTo(syscall.RawConn, bool) (int, error) { return 0, errNoSplice }
func (p *pipe) drainNow(syscall.RawConn) int               { return 0 }
func (p *pipe) put([]byte) error                           { return errNoSplice }
func (p *pipe) take([]byte) error                          { return errNoSplice }
func writeMore(syscall.RawConn, []byte) (int, error)       { return 0, errNoSplice }

var errPipeFull = errNoSplice

// writeNow writes nothing: the stream's writer does it all.
func writeNow(syscall.RawConn, []byte) int { return 0 }
