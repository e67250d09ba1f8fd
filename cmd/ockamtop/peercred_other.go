//go:build !linux

package main

import "net"

// peerPID is 0 where SO_PEERCRED is not available: the pid is then read
// from the socket's name.
func peerPID(net.Conn) int { return 0 }
