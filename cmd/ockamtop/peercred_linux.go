package main

import (
	"net"
	"syscall"
)

// peerPID is the pid of the process that listens on a unix socket's other
// end (SO_PEERCRED), 0 if unknown. The kernel keeps it from listen(), so
// it is known even for a stopped process.
func peerPID(conn net.Conn) int {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
