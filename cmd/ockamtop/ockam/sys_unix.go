//go:build unix

package ockam

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// detachedAttr puts a background node in a session of its own, out of
// reach of the terminal's Ctrl-C and hangup, as Ockam's are.
func detachedAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// flock takes an exclusive lock on f, waiting for it.
func flock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

// alive reports whether process pid exists and has not exited (a zombie,
// exited and not yet reaped, is not alive).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc here: kill(0) is all there is
	}
	i := bytes.LastIndexByte(b, ')')
	return !(i >= 0 && i+2 < len(b) && b[i+2] == 'Z')
}

// signal sends SIGTERM (or SIGKILL, hard) to pid.
func signal(pid int, hard bool) error {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(pid, sig)
}
