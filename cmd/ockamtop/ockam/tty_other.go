//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package ockam

import "os"

// isTerminal reports whether f is a terminal: here, never (the machine
// form, as in a pipe).
func isTerminal(*os.File) bool { return false }
