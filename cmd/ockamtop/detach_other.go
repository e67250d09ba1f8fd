//go:build !unix

package main

import "syscall"

// detachedAttr is the default elsewhere.
func detachedAttr() *syscall.SysProcAttr { return nil }
