package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mitchellh/go-wordwrap"

	"github.com/ockamtop/ockamtop/topology/deploy"
)

var messageCommand = &command{
	name:    "message",
	args:    "send MESSAGE --to ROUTE [--from NODE] [--file FILE] [--timeout 10s]",
	short:   "Send a message along a route of a running topology",
	summary: "Send a message along a route from a node of a running topology and print the reply.",
	words:   []string{"send"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		to := fs.String("to", "", "the `ROUTE`, as a MultiAddr such as /node/n1/service/echo")
		from := fs.String("from", "", "the `NODE` that sends it (default: the node of a leading /node/NAME, else the first node)")
		file := fs.String("file", "", "send from the apply of `FILE` (its path or its name), when several run the node")
		timeout := fs.Duration("timeout", defaultMessageTimeout, "how long to wait for the reply, a `DURATION` such as 10s or 1m")
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
		if *timeout <= 0 {
			fmt.Fprintf(c.stderr, "ockamtop message send: --timeout must be more than 0, got %s\n", *timeout)
			return errUsage
		}
		a, err := c.findApplies(context.Background())
		if err != nil {
			return err
		}
		target, err := c.pickApply(a, *from, *to, *file)
		if err != nil {
			return err
		}
		// The control call waits for the reply, plus time to reach the
		// running apply and hear back.
		ctx, cancel := context.WithTimeout(context.Background(), *timeout+controlSlack)
		defer cancel()
		var reply messageReply
		err = target.client.call(ctx, "POST", "/message", messageRequest{From: *from, To: *to, Message: pos[1], Timeout: timeout.String()}, &reply)
		if err == nil && reply.RouteError != nil {
			writeRouteError(c.stderr, reply.RouteError)
			return errInvalid
		}
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

// pickApply chooses the running apply that sends: the one that runs the
// sending node (--from, or the node of a leading /node/NAME), narrowed by
// --file. A node that runs in several applies is an error that lists them.
func (c *cli) pickApply(a *applies, from, to, file string) (runningApply, error) {
	const cmd = "message send"
	if len(a.running) == 0 {
		if len(a.silent) > 0 {
			c.reportSilent(cmd, a)
			return runningApply{}, errInvalid
		}
		return runningApply{}, a.none()
	}
	node := from
	if node == "" {
		if rest, ok := strings.CutPrefix(to, "/node/"); ok {
			node, _, _ = strings.Cut(rest, "/")
		}
	}
	cands := a.matching(node, file)
	if len(cands) == 0 && from == "" && node != "" {
		// A route to a node run elsewhere: whichever apply is named sends
		// it over a connection.
		node = ""
		cands = a.matching("", file)
	}
	switch {
	case len(cands) == 1:
		return cands[0], nil
	case len(cands) == 0:
		return runningApply{}, c.errNoMatch(cmd, describe(node, file), a)
	case node == "":
		return runningApply{}, c.errAmbiguous(cmd, "no --from, and several applies could send", cands)
	}
	return runningApply{}, c.errAmbiguous(cmd, "node "+node+" runs", cands)
}

// writeRouteError shows a route the plan cannot walk as a diagnostic: the
// summary, the route with the failing segment underlined, the detail.
func writeRouteError(w io.Writer, e *deploy.RouteError) {
	fmt.Fprintf(w, "ockamtop message send: %s\n\n  %s\n", e.Summary, e.Route)
	if 0 <= e.Start && e.Start < e.End && e.End <= len(e.Route) {
		fmt.Fprintf(w, "  %s%s\n", strings.Repeat(" ", utf8.RuneCountInString(e.Route[:e.Start])),
			strings.Repeat("^", max(1, utf8.RuneCountInString(e.Route[e.Start:e.End]))))
	}
	fmt.Fprintf(w, "\n%s\n", wordwrap.WrapString(e.Detail, detailWidth))
}
