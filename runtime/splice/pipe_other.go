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

// Held is 0: a pipe that is never had holds nothing.
func (p *Pipe) Held() int { return 0 }

// Release has nothing to give back.
func (p *Pipe) Release() {}

// Fill fails: there is no splice.
func (p *Pipe) Fill(syscall.RawConn, int) (int, error) { return 0, errNoSplice }

// FillExactly fails: there is no splice.
func (p *Pipe) FillExactly(syscall.RawConn, int) error { return errNoSplice }

// Drain fails: there is no splice.
func (p *Pipe) Drain(syscall.RawConn, bool) (int, error) { return 0, errNoSplice }

// DrainNow moves nothing.
func (p *Pipe) DrainNow(syscall.RawConn) int { return 0 }

// Put fails: there is no pipe.
func (p *Pipe) Put([]byte) error { return errNoSplice }

// Take fails: there is no pipe.
func (p *Pipe) Take([]byte) error { return errNoSplice }

// WriteMore fails: its writes go before a splice that never comes.
func WriteMore(syscall.RawConn, []byte) (int, error) { return 0, errNoSplice }

// WriteNow writes nothing: the caller's writer does it all.
func WriteNow(syscall.RawConn, []byte) int { return 0 }

// SetCapacity has no pipes to size.
func SetCapacity(int64) (restore func()) { return func() {} }

// PipesTaken is always 0.
func PipesTaken() uint64 { return 0 }
