//go:build unix

package main

import "syscall"

// detachedAttr puts a detached apply in a session of its own.
func detachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
