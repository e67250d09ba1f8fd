//go:build !linux

package main

import "errors"

// runInUserNamespace fails: user namespaces are Linux's.
func (c *cli) runInUserNamespace() (int, error) {
	return 0, errors.New("user namespaces need Linux")
}
