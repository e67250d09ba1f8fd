package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

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
	fs.StringVar(&f.logLevel, "log-level", "", "log level: trace, debug, info, warn or error (default info, or $OCKAMTOP_LOG)")
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
		level = "info"
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
	args:    "FILE",
	summary: "Start the topology's nodes, run its checks, and keep it up until SIGINT, SIGTERM or 'ockamtop down'; while FILE runs, apply its changes to it.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var f runFlags
		f.register(fs)
		readyFile := fs.String("ready-file", "", "once everything is up, write the bound addresses as JSON to `PATH`")
		detach := fs.Bool("detach", false, "run in the background: return once everything is up, and keep running until 'ockamtop down'")
		logFile := fs.String("log-file", "", "with --detach, write the output to `PATH` (default $OCKAMTOP_HOME/run/PID.log)")
		watch := fs.Bool("watch", false, "apply every saved change of FILE to the running topology")
		pos, err := parseArgs(c, fs, args, 1, 1)
		if err != nil {
			return err
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
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		run, _, err := c.start(ctx, pos[0], &f)
		if err != nil {
			return err
		}
		defer run.Stop()
		results := run.RunChecks(ctx)
		if ctx.Err() != nil {
			// Interrupted while the checks ran: they did not fail.
			fmt.Fprintf(c.stderr, "ockamtop: interrupted while running the checks\n")
			return errInvalid
		}
		checksOK := printChecks(c.stdout, results)

		rc := c.newReconciler(ctx, pos[0], &f, run, *readyFile)
		ctl, err := startControl(sock, pos[0], run, stop, rc.handlers)
		if err != nil {
			fmt.Fprintf(c.stderr, "✘ %v\n", err)
			return errInvalid
		}
		defer ctl.Close()
		if *readyFile != "" {
			if err := writeReady(*readyFile, run); err != nil {
				fmt.Fprintf(c.stderr, "✘ ready file: %v\n", err)
				return errInvalid
			}
		}
		if detached, err := c.notifyDetached(); detached {
			if err != nil {
				fmt.Fprintf(c.stderr, "✘ %v\n", err)
				return errInvalid
			}
		} else {
			fmt.Fprintf(c.stderr, "ockamtop: up; stop with Ctrl-C or 'ockamtop down'\n")
		}
		c.awaitChanges(ctx, rc, *watch) // until ctx ends (watch.go)
		run.Stop()
		fmt.Fprintln(c.stdout, "✔ stopped")
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
	// Inlets maps "node.inlet" to the inlet's bound address.
	Inlets map[string]string `json:"inlets"`
	PID    int               `json:"pid"`
}

func writeReady(path string, run *deploy.Running) error {
	return writeReadyInfo(path, newReadyInfo(run))
}

func newReadyInfo(run *deploy.Running) readyInfo {
	info := readyInfo{Nodes: map[string]string{}, Inlets: map[string]string{}, PID: os.Getpid()}
	for _, n := range run.Status().Nodes {
		info.Nodes[n.Name] = n.Listener
	}
	info.Inlets = run.Inlets()
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
