package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

var messageCommand = &command{
	name:    "message",
	args:    "send MESSAGE --to ROUTE [--from NODE] [--timeout 10s]",
	summary: "Send a message along a route from a node of a running topology and print the reply.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		to := fs.String("to", "", "the route, as a MultiAddr: `/node/n1/service/echo`")
		from := fs.String("from", "", "the `NODE` that sends it (default: the node of a leading /node/NAME, else the first node)")
		timeout := fs.Duration("timeout", defaultMessageTimeout, "how long to wait for the reply")
		pos, err := parseArgs(c, fs, args, 2, 2)
		if err != nil {
			return err
		}
		if pos[0] != "send" {
			fmt.Fprintf(c.stderr, "ockamtop message: unknown subcommand %q (want send)\n", pos[0])
			return errUsage
		}
		if *to == "" {
			fmt.Fprintf(c.stderr, "ockamtop message send: --to is required\n")
			return errUsage
		}
		// The control call waits for the reply, plus time to reach the
		// running apply and hear back.
		ctx, cancel := context.WithTimeout(context.Background(), *timeout+controlSlack)
		defer cancel()
		clients, statuses, err := c.runningApplies(ctx)
		if err != nil {
			return err
		}
		cl := pickApply(clients, statuses, *from, *to)
		var reply messageReply
		err = cl.call(ctx, "POST", "/message", messageRequest{From: *from, To: *to, Message: pos[1], Timeout: timeout.String()}, &reply)
		if err == nil && reply.Error != "" {
			err = errors.New(reply.Error)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "ockamtop message send: %v\n", err)
			return errInvalid
		}
		fmt.Fprintln(c.stdout, reply.Reply)
		return nil
	},
}

const (
	// defaultMessageTimeout is how long message send waits for a reply.
	defaultMessageTimeout = 10 * time.Second
	// controlSlack is the time a control call may take beyond the wait it
	// asks the running apply for.
	controlSlack = 2 * time.Second
)

// pickApply chooses the running apply that hosts the sending node.
func pickApply(clients []*controlClient, statuses []controlStatus, from, to string) *controlClient {
	if from == "" {
		if rest, ok := strings.CutPrefix(to, "/node/"); ok {
			from, _, _ = strings.Cut(rest, "/")
		}
	}
	for i, st := range statuses {
		for _, n := range st.Nodes {
			if n.Name == from {
				return clients[i]
			}
		}
	}
	return clients[0]
}
