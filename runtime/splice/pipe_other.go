//go:build !linux

package splice

import (
	"errors"
	"syscall"
)

// Pipe is never had without splice(2).
type Pipe struct{}

var errNoSplice = errors.New("splice is not supported on this system")

// ErrPipeFull is every pipe operation's error here.
var ErrPipeFull = errNoSplice

// GetPipe always says none: every payload goes through memory.
func GetPipe() *Pipe { return nil }

// PipesInUse is always 0.
func PipesInUse() int { return 0 }

// Spliceable says no socket can feed a pipe.
func Spliceable(any) (syscall.RawConn, bool) { return nil, false }

// The methods of a pipe that is never had.
func (p *Pipe) Held() int                                { return 0 }
func (p *Pipe) Release()                                 {}
func (p *Pipe) Fill(syscall.RawConn, int) (int, error)   { return 0, errNoSplice }
func (p *Pipe) FillExactly(syscall.RawConn, int) error   { return errNoSplice }
func (p *Pipe) Drain(syscall.RawConn, bool) (int, error) { return 0, errNoSplice }
func (p *Pipe) DrainNow(syscall.RawConn) int             { return 0 }
func (p *Pipe) Put([]byte) error                         { return errNoSplice }
func (p *Pipe) Take([]byte) error                        { return errNoSplice }
func WriteMore(syscall.RawConn, []byte) (int, error)     { return 0, errNoSplice }

// WriteNow writes nothing: the caller's writer does it all.
func WriteNow(syscall.RawConn, []byte) int { return 0 }

// SetCapacity has no pipes to size.
func SetCapacity(int64) (restore func()) { return func() {} }

// PipesTaken is always 0.
func PipesTaken() uint64 { return 0 }
