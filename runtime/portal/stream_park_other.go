//go:build !linux

package portal

import "errors"

// parker parks no stream where there is no epoll: an idle stream's reader
// restarts on a fresh goroutine instead (stream_read.go).
type parker struct{}

const parkSupported = false

func newParker() (*parker, error) { return nil, errors.ErrUnsupported }

func (*parker) park(*portalStream) bool   { return false }
func (*parker) unpark(*portalStream) bool { return false }
func (*parker) run(func(*portalStream))   {}
func (*parker) close()                    {}
func (*parker) takeAll() []*portalStream  { return nil }
func (*parker) count() int                { return 0 }
