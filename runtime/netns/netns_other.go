//go:build !linux

package netns

import (
	"errors"
	"net/netip"
)

// errNotLinux is every error here: network namespaces are Linux's.
var errNotLinux = errors.New("network namespaces need Linux")

// ErrClosed is returned by Do on a closed namespace.
var ErrClosed = errors.New("network namespace closed")

// Namespace is a network namespace; there are none off Linux.
type Namespace struct{}

// New fails off Linux.
func New() (*Namespace, error) { return nil, errNotLinux }

// Do fails off Linux.
func (ns *Namespace) Do(func() error) error { return errNotLinux }

// Inode is 0.
func (ns *Namespace) Inode() uint64 { return 0 }

// Path is "".
func (ns *Namespace) Path() string { return "" }

// Close does nothing.
func (ns *Namespace) Close() error { return nil }

// Prepare fails off Linux.
func (ns *Namespace) Prepare() error { return errNotLinux }

// CheckPrivilege fails off Linux.
func CheckPrivilege() error { return errNotLinux }

// Held lists nothing off Linux.
func Held([]uint64) []string { return nil }

// Switch holds the networks; there are none off Linux.
type Switch struct{}

// NewSwitch fails off Linux.
func NewSwitch() (*Switch, error) { return nil, errNotLinux }

// Namespace is nil.
func (s *Switch) Namespace() *Namespace { return nil }

// AddNetwork fails off Linux.
func (s *Switch) AddNetwork(string) error { return errNotLinux }

// Plug fails off Linux.
func (s *Switch) Plug(*Namespace, string, string, netip.Prefix) error { return errNotLinux }

// Close does nothing.
func (s *Switch) Close() error { return nil }
