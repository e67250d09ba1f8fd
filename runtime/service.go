package runtime

import (
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// NewService returns a worker of the service type t: what a file's
// `service` block starts.
func NewService(t routing.ServiceType) (Worker, error) {
	switch t {
	case routing.Echo:
		return Echo{}, nil
	case routing.Hop:
		return Hop{}, nil
	case routing.Uppercase:
		return Uppercase{}, nil
	}
	return nil, fmt.Errorf("no service type %q", t)
}
