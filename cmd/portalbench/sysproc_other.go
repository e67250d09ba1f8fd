//go:build !linux

package main

import "syscall"

// dieWithParent has no Pdeathsig to ask for here: an interrupted run may
// leave its children, which stop when their standard input closes.
func dieWithParent() *syscall.SysProcAttr { return nil }
