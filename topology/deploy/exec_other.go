//go:build !linux

package deploy

import (
	"errors"
	"syscall"
)

// Off Linux there is no parent-death signal: a process could outlive a
// killed apply, so exec blocks do not run there.

func procAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, syscall.Signal) {}

func execSupported() error {
	return errors.New("exec blocks need Linux (a process must die with the apply: PR_SET_PDEATHSIG)")
}
