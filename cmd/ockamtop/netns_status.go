package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ockamtop/ockamtop/topology/deploy"
)

// writeIsolation shows a node's network namespace and its processes.
func writeIsolation(w io.Writer, n deploy.NodeStatus) {
	if ns := n.Namespace; ns != nil {
		fmt.Fprintf(w, "  namespace net:[%d] (nsenter --net=%s): %s\n", ns.Inode, ns.Path, strings.Join(ns.Addresses, ", "))
	}
	for _, x := range n.Execs {
		if x.External {
			fmt.Fprintf(w, "  exec %s: started elsewhere: %s\n", x.Name, strings.Join(x.Command, " "))
			continue
		}
		state := "running"
		if !x.Running {
			state = "exited"
		}
		fmt.Fprintf(w, "  exec %s: pid %d, %s: %s\n", x.Name, x.PID, state, strings.Join(x.Command, " "))
	}
}
