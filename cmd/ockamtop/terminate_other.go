//go:build !unix

package main

import "errors"

// terminate is not available without unix signals.
func terminate(int) error {
	return errors.New("signals are not supported on this system")
}
