//go:build unix

package main

import (
	"errors"
	"syscall"
)

// terminate asks a process to stop with SIGTERM, and continues it in case
// it was stopped (SIGSTOP), so that it handles the SIGTERM at once.
func terminate(pid int) error {
	if pid <= 0 {
		return errors.New("its pid is unknown")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGCONT)
}

// alive reports whether a process with that pid exists and has not
// exited: a process that exited and that its parent has not waited for
// yet (a zombie) is not alive.
func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) }
