package portal

import "errors"

// ErrStopped is an inlet or outlet, stopped on its own, asked to take a
// new stream.
var ErrStopped = errors.New("stopped")
