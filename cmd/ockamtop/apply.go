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

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/deploy"
	"github.com/ockamtop/ockamtop/topology/observe"
)

// runFlags are the flags of the commands that start nodes.
type runFlags struct {
	fileFlags
	nodes     []string
	logLevel  string
	logFormat string
	// externalExecs: the execs are started by another (deploy.StartOptions).
	externalExecs bool
	// log is the nodes' logger, once start has made it.
	log hclog.Logger
}

func (f *runFlags) register(fs *flag.FlagSet) {
	f.fileFlags.register(fs)
	fs.Func("node", "run only this `NAME` node (repeatable); the others run elsewhere", func(s string) error {
		f.nodes = append(f.nodes, s)
		return nil
	})
	fs.StringVar(&f.logLevel, "log-level", "", "the log `LEVEL`: trace, debug, info, warn or error (default info, or $OCKAMTOP_LOG)")
	fs.StringVar(&f.logFormat, "log-format", "text", "the log `FORMAT`: text, or json (one JSON object a line, for log shippers)")
	fs.BoolVar(&f.externalExecs, "external-execs", false, "start no exec: another starts them beside this process (a pod's other containers); wait for each one's wait_for")
}

// logger builds the nodes' logger, on stderr.
func (c *cli) logger(level, format string) (hclog.Logger, error) {
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("unknown log format %q (want text or json)", format)
	}
	if level == "" {
		for _, kv := range c.env {
			if v, ok := strings.CutPrefix(kv, "OCKAMTOP_LOG="); ok {
				level = v
			}
		}
	}
	if level == "" {
		level = "info"
	}
	l := hclog.LevelFromString(level)
	if l == hclog.NoLevel {
		return nil, fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", level)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "ockamtop", Level: l, Output: c.stderr, JSONFormat: format == "json"}), nil
}

// start loads a file and starts its nodes. It prints what it starts; an
// error, reported, says it could not.
func (c *cli) start(ctx context.Context, path string, f *runFlags) (*deploy.Running, *topology.Topology, error) {
	log, err := c.logger(f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil, nil, errUsage
	}
	f.log = log
	t := c.loadForRun(path, &f.fileFlags)
	if t == nil {
		return nil, nil, errInvalid
	}
	local, diags := t.Subset(f.nodes)
	if len(diags) > 0 {
		writeDiagnostics(c.stderr, diags, nil, true)
		if unknownNode(diags) {
			return nil, nil, errUsage // --node names what the file has not
		}
		return nil, nil, errInvalid
	}
	home, err := c.homeDir()
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil, nil, errInvalid
	}
	run, err := deploy.Start(ctx, t, local, deploy.StartOptions{
		Logger:         log,
		Progress:       func(line string) { fmt.Fprintln(c.stdout, line) },
		IdentityDir:    filepath.Join(home, "identities"),
		CheckPrivilege: c.netPrivilege,
		ExternalExecs:  f.externalExecs,
	})
	if pe, ok := errors.AsType[*deploy.PrivilegeError](err); ok {
		// Nothing started: the same command may run in a user namespace.
		again := c.userNamespace
		if again == nil {
			again = c.runInUserNamespace
		}
		code, uerr := again()
		if uerr == nil {
			return nil, nil, &exitError{code}
		}
		fmt.Fprintf(c.stderr, "✘ %v; and no user namespace: %v\nockamtop: nothing was started\n", pe, uerr)
		return nil, nil, errInvalid
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(c.stderr, "ockamtop: interrupted while starting; nothing was left running\n")
			return nil, nil, errInvalid
		}
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
	args:    "FILE|DIR",
	short:   "Start a topology and keep it up; apply a file's changes to it",
	summary: "Start the topology's nodes, run its checks, and keep it up until SIGINT, SIGTERM or 'ockamtop down'; while FILE runs, apply its changes to it.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var f runFlags
		f.register(fs)
		readyFile := fs.String("ready-file", "", "once everything is up, write the bound addresses as JSON to `PATH`")
		detach := fs.Bool("detach", false, "run in the background: return once everything is up, and keep running until 'ockamtop down'")
		logFile := fs.String("log-file", "", "with --detach, write the output to `PATH` (default $OCKAMTOP_HOME/run/PID.log)")
		httpAddr := fs.String("http", "", "serve Prometheus metrics (/metrics), a live page of the topology (/) and the status JSON (/api/status) on `ADDR` (host:port; port 0 picks one)")
		watch := fs.Bool("watch", false, "apply every saved change of FILE to the running topology")
		pos, err := parseArgs(c, fs, args, 1, 1)
		if err != nil {
			return err
		}
		// A bad --log-level or --log-format is a usage error, whatever runs.
		if _, err := c.logger(f.logLevel, f.logFormat); err != nil {
			fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
			return errUsage
		}
		// FILE runs already: apply the difference to it (reconcile.go).
		if handled, err := c.reconcileRunning(pos[0], &f, *readyFile); handled {
			return err
		}
		if *detach {
			return c.detach(args, *logFile)
		}
		// The control socket's path must fit before anything starts.
		sock, err := c.controlSocket(os.Getpid())
		if err != nil {
			fmt.Fprintf(c.stderr, "ockamtop apply: %v\n", err)
			return errInvalid
		}
		// So is --http's address: one in use fails before anything starts.
		web, err := c.listenHTTP(*httpAddr)
		if err != nil {
			return err
		}
		if web != nil {
			defer web.Close()
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		run, _, err := c.start(ctx, pos[0], &f)
		if err != nil {
			return err
		}
		defer run.Stop()
		if web != nil {
			if err := c.serveHTTP(web, run, pos[0], f.log); err != nil {
				return err
			}
		}
		results := run.RunChecks(ctx)
		if ctx.Err() != nil {
			// Interrupted while the checks ran: they did not fail.
			fmt.Fprintf(c.stderr, "ockamtop: interrupted while running the checks\n")
			return errInvalid
		}
		checksOK := printChecks(c.stdout, results)
		select {
		case exited := <-run.ExecExited():
			fmt.Fprintf(c.stderr, "✘ %v\n", exited)
			return errInvalid
		default:
		}

		rc := c.newReconciler(ctx, pos[0], &f, run, *readyFile)
		rc.web = web
		ctl, err := startControl(sock, pos[0], run, stop, rc.handlers)
		if err != nil {
			fmt.Fprintf(c.stderr, "✘ %v\n", err)
			return errInvalid
		}
		defer ctl.Close()
		if *readyFile != "" {
			if err := writeReady(*readyFile, run, web); err != nil {
				fmt.Fprintf(c.stderr, "✘ ready file: %v\n", err)
				return errInvalid
			}
		}
		if detached, err := c.notifyDetached(checksOK); detached {
			if err != nil {
				fmt.Fprintf(c.stderr, "✘ %v\n", err)
				return errInvalid
			}
		} else {
			if f.logFormat == "json" {
				f.log.Info("up; stop with Ctrl-C or 'ockamtop down'") // stderr stays JSON for log shippers
			} else {
				fmt.Fprintf(c.stderr, "ockamtop: up; stop with Ctrl-C or 'ockamtop down'\n")
			}
		}
		// Until ctx ends, or an exec's process exits on its own, taking
		// changes to the file as they come (watch.go).
		wctx, stopWaiting := context.WithCancel(ctx)
		var exited *deploy.ExecExit
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			select {
			case <-wctx.Done():
			case exited = <-run.ExecExited():
				stopWaiting()
			}
		}()
		c.awaitChanges(wctx, rc, *watch)
		stopWaiting()
		<-waited
		fmt.Fprintf(c.stdout, "✔ stopped %v\n", run.Stop())
		if exited != nil {
			fmt.Fprintf(c.stderr, "ockamtop apply: %v, so the topology stopped\n", exited)
			return errInvalid
		}
		if !checksOK {
			// The topology ran as asked, but not as the file expects: a
			// script or CI job that runs apply must see it.
			fmt.Fprintf(c.stderr, "ockamtop apply: %s failed when it started\n", countFailed(results))
			return errInvalid
		}
		return nil
	},
}

// countFailed says how many checks failed: "1 check", "2 checks".
func countFailed(results []deploy.CheckResult) string {
	n := 0
	for _, r := range results {
		if !r.OK {
			n++
		}
	}
	if n == 1 {
		return "1 check"
	}
	return fmt.Sprintf("%d checks", n)
}

// readyInfo is the ready file's JSON.
type readyInfo struct {
	// Nodes maps each node run here to its bound listener address ("" if
	// it does not listen).
	Nodes map[string]string `json:"nodes"`
	// UDPListeners maps each node run here that has a UDP listener to its
	// bound address.
	UDPListeners map[string]string `json:"udp_listeners,omitempty"`
	// Inlets maps "node.inlet" to the inlet's bound address.
	Inlets map[string]string `json:"inlets"`
	// UDPInlets maps "node.inlet" to each UDP inlet's bound address;
	// absent without.
	UDPInlets map[string]string `json:"udp_inlets,omitempty"`
	PID       int               `json:"pid"`
	// HTTP is --http's bound address, when it was given.
	HTTP string `json:"http,omitempty"`
	// Namespaces describes each isolated node's network namespace (and
	// the switch's, under ""); absent without networks.
	Namespaces map[string]deploy.NamespaceInfo `json:"namespaces,omitempty"`
	// Execs maps "node.exec" to each exec's pid; absent without.
	Execs map[string]int `json:"execs,omitempty"`
}

func writeReady(path string, run *deploy.Running, web *observe.Server) error {
	return writeReadyInfo(path, newReadyInfo(run, web))
}

func newReadyInfo(run *deploy.Running, web *observe.Server) readyInfo {
	info := readyInfo{Nodes: map[string]string{}, Inlets: map[string]string{}, PID: os.Getpid()}
	if web != nil {
		info.HTTP = web.Addr()
	}
	for _, n := range run.Status().Nodes {
		info.Nodes[n.Name] = n.Listener
	}
	info.UDPListeners = run.UDPListeners()
	info.Inlets = run.Inlets()
	if u := run.UDPInlets(); len(u) > 0 {
		info.UDPInlets = u
	}
	if ns := run.Namespaces(); len(ns) > 0 {
		info.Namespaces = ns
	}
	if ex := run.Execs(); len(ex) > 0 {
		info.Execs = ex
	}
	return info
}

func writeReadyInfo(path string, info readyInfo) error {
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
	args:    "FILE|DIR",
	short:   "Start a topology, run its checks, stop",
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
		var exited *deploy.ExecExit
		select {
		case exited = <-run.ExecExited():
		default:
		}
		run.Stop()
		ok := printChecks(c.stdout, results)
		if exited != nil {
			fmt.Fprintf(c.stderr, "✘ %v\n", exited)
			ok = false
		}
		if len(t.Checks) == 0 {
			fmt.Fprintf(c.stdout, "no checks in %s\n", pos[0])
		}
		if !ok {
			return errInvalid
		}
		return nil
	},
}

// unknownNode reports whether diags say that --node names a node the file
// does not declare.
func unknownNode(diags hcl.Diagnostics) bool {
	return slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == topology.UnknownNodeSummary })
}
