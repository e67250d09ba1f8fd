//go:build !unix

package ockam

import (
	"errors"
	"os"
	"syscall"
)

var errUnix = errors.New("ockam's background nodes need a unix system")

func detachedAttr() *syscall.SysProcAttr { return nil }
func flock(*os.File) error               { return errUnix }
func alive(int) bool                     { return false }
func signal(int, bool) error             { return errUnix }
