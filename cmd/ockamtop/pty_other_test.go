//go:build !linux

package main

import (
	"errors"
	"os"
)

// openPTY is for Linux only here.
func openPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("no pseudo-terminal here: Linux only")
}
