package udpportal

import "errors"

// ErrStopped is an inlet or outlet asked to start on a node that is
// closing, or a part used after Stop.
var ErrStopped = errors.New("stopped")
