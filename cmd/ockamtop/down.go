package main

import (
	"context"
	"flag"
	"fmt"
	"slices"

	"github.com/ockamtop/ockamtop/runtime/deploy"
)

var downCommand = &command{
	name:    "down",
	args:    "",
	summary: "Stop the running topologies cleanly (only the one running NODE with --node).",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		node := fs.String("node", "", "stop only the apply that runs `NODE`")
		if _, err := parseArgs(c, fs, args, 0, 0); err != nil {
			return err
		}
		clients, statuses, err := c.runningApplies(context.Background())
		if err != nil {
			return err
		}
		stopped := 0
		for i, cl := range clients {
			if *node != "" && !runsNode(statuses[i], *node) {
				continue
			}
			var out map[string]bool
			if err := cl.call(context.Background(), "POST", "/down", nil, &out); err != nil {
				fmt.Fprintf(c.stderr, "ockamtop down: %v\n", err)
				return errInvalid
			}
			fmt.Fprintf(c.stdout, "✔ stopping %s (pid %d)\n", statuses[i].File, statuses[i].PID)
			stopped++
		}
		if stopped == 0 {
			fmt.Fprintf(c.stderr, "ockamtop down: no running topology runs node %q\n", *node)
			return errInvalid
		}
		return nil
	},
}

func runsNode(st controlStatus, name string) bool {
	return slices.ContainsFunc(st.Nodes, func(n deploy.NodeStatus) bool { return n.Name == name })
}
