package main

import "syscall"

// dieWithParent makes a child process get SIGKILL when portalbench dies,
// so that no client, server or ockamtop outlives an interrupted run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
