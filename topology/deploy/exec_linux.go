package deploy

import "syscall"

// procAttr puts an exec's process in a process group of its own, and has
// the kernel kill it if this process dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// execSupported: exec blocks run on Linux.
func execSupported() error { return nil }
