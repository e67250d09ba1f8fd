package deploy

import (
	"context"
	"fmt"
	"net"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// serviceUnit runs a service the file declares: a worker of its type at
// /service/NAME. The default services run with every node and are not
// parts of the file.
var serviceUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		s := p.Model.(*schema.Service)
		w, err := runtime.NewService(routing.ServiceType(s.Type))
		if err == nil {
			err = n.StartService(s.Name, w)
		}
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("service %q of node %q", s.Name, p.Node), Where: s.DeclRange.String(), Err: err}
		}
		return workerRun{node: n, name: s.Name}, nil
	},
}
