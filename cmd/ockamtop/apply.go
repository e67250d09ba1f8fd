package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/deploy"
	"github.com/ockamtop/ockamtop/topology"
)

// runFlags are the flags of the commands that start nodes.
type runFlags struct {
	fileFlags
	nodes    []string
	logLevel string
}

func (f *runFlags) register(fs *flag.FlagSet) {
	f.fileFlags.register(fs)
	fs.Func("node", "run only this `NAME` node (repeatable); the others run elsewhere", func(s string) error {
		f.nodes = append(f.nodes, s)
		return nil
	})
	fs.StringVar(&f.logLevel, "log-level", "", "log level: trace, debug, info, warn or error (default warn, or $OCKAMTOP_LOG)")
}

// logger builds the nodes' logger, on stderr.
func (c *cli) logger(level string) (hclog.Logger, error) {
	if level == "" {
		for _, kv := range c.env {
			if v, ok := strings.CutPrefix(kv, "OCKAMTOP_LOG="); ok {
				level = v
			}
		}
	}
	if level == "" {
		level = "warn"
	}
	l := hclog.LevelFromString(level)
	if l == hclog.NoLevel {
		return nil, fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", level)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "ockamtop", Level: l, Output: c.stderr}), nil
}

// start loads a file and starts its nodes. It prints what it starts; an
// error, reported, says it could not.
func (c *cli) start(ctx context.Context, path string, f *runFlags) (*deploy.Running, *topology.Topology, error) {
	log, err := c.logger(f.logLevel)
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil, nil, errUsage
	}
	t := c.loadForRun(path, &f.fileFlags)
	if t == nil {
		return nil, nil, errInvalid
	}
	local, diags := t.Subset(f.nodes)
	if len(diags) > 0 {
		writeDiagnostics(c.stderr, diags, nil, true)
		return nil, nil, errInvalid
	}
	run, err := deploy.Start(ctx, t, local, deploy.StartOptions{
		Logger:   log,
		Progress: func(line string) { fmt.Fprintln(c.stdout, line) },
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "✘ %v\nockamtop: nothing was left running\n", err)
		return nil, nil, errInvalid
	}
	return run, t, nil
}

// printChecks prints each check's result and says whether all passed.
func printChecks(w io.Writer, results []deploy.CheckResult) bool {
	ok := true
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(w, "✔ check %q: %s\n", r.Name, r.Reply)
			continue
		}
		ok = false
		fmt.Fprintf(w, "✘ check %q: %s\n", r.Name, r.Error)
	}
	return ok
}

var applyCommand = &command{
	name:    "apply",
	args:    "FILE",
	summary: "Start the topology's nodes, run its checks, and keep it up until SIGINT, SIGTERM or 'ockamtop down'.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var f runFlags
		f.register(fs)
		readyFile := fs.String("ready-file", "", "once everything is up, write the bound addresses as JSON to `PATH`")
		pos, err := parseArgs(c, fs, args, 1, 1)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		run, _, err := c.start(ctx, pos[0], &f)
		if err != nil {
			return err
		}
		defer run.Stop()
		printChecks(c.stdout, run.RunChecks(ctx))

		dir, err := c.runDir()
		if err == nil {
			var ctl *controlServer
			ctl, err = startControl(dir, pos[0], run, stop)
			if err == nil {
				defer ctl.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "✘ %v\n", err)
			return errInvalid
		}
		if *readyFile != "" {
			if err := writeReady(*readyFile, run); err != nil {
				fmt.Fprintf(c.stderr, "✘ ready file: %v\n", err)
				return errInvalid
			}
		}
		fmt.Fprintf(c.stderr, "ockamtop: up; stop with Ctrl-C or 'ockamtop down'\n")
		<-ctx.Done()
		run.Stop()
		fmt.Fprintln(c.stdout, "✔ stopped")
		return nil
	},
}

// readyInfo is the ready file's JSON.
type readyInfo struct {
	// Nodes maps each node run here to its bound listener address ("" if
	// it does not listen).
	Nodes map[string]string `json:"nodes"`
	// Inlets maps "node.inlet" to the inlet's bound address.
	Inlets map[string]string `json:"inlets"`
	PID    int               `json:"pid"`
}

func writeReady(path string, run *deploy.Running) error {
	info := readyInfo{Nodes: map[string]string{}, Inlets: map[string]string{}, PID: os.Getpid()}
	for _, n := range run.Status().Nodes {
		info.Nodes[n.Name] = n.Listener
	}
	info.Inlets = run.Inlets()
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

var checkCommand = &command{
	name:    "check",
	args:    "FILE",
	summary: "Start the topology, run every check, stop; exit 0 only if all pass.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var f runFlags
		f.register(fs)
		pos, err := parseArgs(c, fs, args, 1, 1)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		run, t, err := c.start(ctx, pos[0], &f)
		if err != nil {
			return err
		}
		results := run.RunChecks(ctx)
		run.Stop()
		ok := printChecks(c.stdout, results)
		if len(t.Checks) == 0 {
			fmt.Fprintf(c.stdout, "no checks in %s\n", pos[0])
		}
		if !ok {
			return errInvalid
		}
		return nil
	},
}

var statusCommand = &command{
	name:    "status",
	args:    "",
	summary: "Show the running topologies: nodes, listeners, connections, services, relays.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		asJSON := fs.Bool("json", false, "print the status as JSON")
		if _, err := parseArgs(c, fs, args, 0, 0); err != nil {
			return err
		}
		_, statuses, err := c.runningApplies(context.Background())
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(statuses)
			return nil
		}
		for i, st := range statuses {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			writeStatus(c.stdout, st)
		}
		return nil
	},
}

func writeStatus(w io.Writer, st controlStatus) {
	fmt.Fprintf(w, "topology %s (pid %d)\n", st.File, st.PID)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "\nnode %s\n", n.Name)
		if n.Listener != "" {
			fmt.Fprintf(w, "  listening on %s\n", n.Listener)
		}
		fmt.Fprintf(w, "  services: %s\n", strings.Join(n.Services, ", "))
		for _, cn := range n.Connections {
			dir := "accepted from"
			if cn.Outgoing {
				dir = "connected to"
			}
			fmt.Fprintf(w, "  connection /worker/%s %s %s\n", cn.Address, dir, cn.Peer)
		}
		for fwd, conn := range n.Forwarders {
			fmt.Fprintf(w, "  forwarder /service/%s over /worker/%s\n", fwd, conn)
		}
		for _, in := range n.Inlets {
			fmt.Fprintf(w, "  tcp_inlet %s on %s -> %s (%d streams)\n", in.Name, in.Address, in.Route, in.Streams)
		}
		for _, o := range n.Outlets {
			fmt.Fprintf(w, "  tcp_outlet /service/%s -> %s (%d streams)\n", o.Name, o.Target, o.Streams)
		}
		for _, r := range n.Relays {
			at := r.At
			if r.AtNode != "" {
				at = "node " + r.AtNode + " (" + r.At + ")"
			}
			fmt.Fprintf(w, "  relay %s at %s: %s", r.Name, at, r.State)
			if r.Forwarder != "" {
				fmt.Fprintf(w, ", remote address /service/%s", r.Forwarder)
			}
			if r.LastError != "" {
				fmt.Fprintf(w, " (last error: %s)", r.LastError)
			}
			fmt.Fprintln(w)
		}
	}
}

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
