// Package ockam is Ockam's own command line, its local subset, on
// ockamtop's running-topology machinery: `ockam node create n1`,
// `ockam relay create n3 --at /node/n2 --to /node/n3`, `ockam message send
// hello --to /node/n1/service/echo` run as written in Ockam's documents.
//
// Each node is a background ockamtop process that runs one node of the
// session: a topology file, session.hcl, that the commands edit under
// $OCKAM_HOME. A command that changes a node's parts rewrites the file and
// asks the node's process to reconcile with it (topology/deploy), so the
// session is always an HCL topology that `ockamtop apply` runs as is. The
// boundary: this package speaks Ockam's flags and output and keeps the
// session's state; starting and changing nodes is deploy's.
package ockam

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, as Ockam's command line has them (its util/exitcode.rs, the
// BSD sysexits): a command line clap refuses exits 2, a failed command 70
// (EX_SOFTWARE), a command that needs Ockam's hosted service 69
// (EX_UNAVAILABLE).
const (
	exitOK          = 0
	exitUsage       = 2
	exitUnavailable = 69
	exitSoftware    = 70
)

// Env is the process's environment, so that tests run the CLI in-process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Environ is the environment, as os.Environ gives it.
	Environ []string
	// Executable is the path of this program, which a background node
	// runs again (nil: os.Executable).
	Executable func() (string, error)
	// Prefix is how this program is invoked before Ockam's arguments:
	// ["ockam"], or ["ockamtop", "ockam"].
	Prefix []string
}

// cmdError ends a command with an exit code and a message for stderr.
type cmdError struct {
	code int
	msg  string
}

func (e *cmdError) Error() string { return e.msg }

// failf is a failed command (exit 70), its message as Ockam words them.
func failf(format string, args ...any) error {
	return &cmdError{code: exitSoftware, msg: fmt.Sprintf(format, args...)}
}

// usagef is a command line that is wrong (exit 2).
func usagef(format string, args ...any) error {
	return &cmdError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// dispatcher runs a command line.
type dispatcher interface{ dispatch(args []string) error }

// run is one invocation: its environment, its global flags and its home.
type run struct {
	Env
	home home
	// json is --output json.
	json bool
	// quiet is --quiet: no plain form on stdout (output.go).
	quiet bool
	// tty is whether stdout is a terminal, which takes a command's plain
	// form; anything else takes its machine form (output.go).
	tty bool
	// self runs a configuration file's commands: an interface, so that
	// the command table does not refer to itself through them.
	self dispatcher
	// dryRun builds the session without starting a node: a configuration
	// file imported as a topology.
	dryRun bool
}

// Main runs Ockam's command line with args (without the program's name)
// and returns the exit code.
func Main(e Env, args []string) int {
	if e.Executable == nil {
		e.Executable = os.Executable
	}
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if len(e.Prefix) == 0 {
		e.Prefix = []string{"ockam"}
	}
	r := &run{Env: e, tty: stdoutIsTerminal(e.Stdout)}
	r.self = r
	err := r.dispatch(args)
	if err == nil {
		return exitOK
	}
	if ce, ok := errors.AsType[*cmdError](err); ok {
		if ce.msg != "" {
			fmt.Fprintf(r.Stderr, "  × %s\n", ce.msg)
		}
		return ce.code
	}
	fmt.Fprintf(r.Stderr, "  × %v\n", err)
	return exitSoftware
}

// getenv reads the environment Main was given.
func (r *run) getenv(name string) string {
	v := ""
	for _, kv := range r.Environ {
		if rest, ok := strings.CutPrefix(kv, name+"="); ok {
			v = rest
		}
	}
	return v
}

// dispatch finds the command the arguments name and runs it.
func (r *run) dispatch(args []string) error {
	args, err := r.globalFlags(args)
	if err != nil {
		return err
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		r.usage(r.Stdout)
		if len(args) == 0 {
			return &cmdError{code: exitUsage}
		}
		return nil
	}
	if args[0] == "--version" || args[0] == "-V" || args[0] == "version" {
		fmt.Fprintln(r.Stdout, "ockam 0.0.0 (ockamtop: the local subset of Ockam's command line)")
		return nil
	}
	if why, ok := unsupported[args[0]]; ok {
		return &cmdError{code: exitUnavailable, msg: fmt.Sprintf("'ockam %s' %s", args[0], why)}
	}
	switch args[0] {
	case "run":
		return r.runCmd(runCommand, "run", args[1:])
	case "reset":
		return r.runCmd(resetCommand, "reset", args[1:])
	}
	group := groups[args[0]]
	if group == nil {
		return usagef("unrecognized subcommand '%s'\n\n  Usage: ockam <COMMAND>\n\n  For more information, try '--help'.", args[0])
	}
	if len(args) < 2 || args[1] == "--help" || args[1] == "-h" || args[1] == "help" {
		r.groupUsage(r.Stdout, args[0], group)
		if len(args) < 2 {
			return &cmdError{code: exitUsage}
		}
		return nil
	}
	cmd := group[args[1]]
	if cmd == nil {
		if why, ok := unsupported[args[0]+" "+args[1]]; ok {
			return &cmdError{code: exitUnavailable, msg: fmt.Sprintf("'ockam %s %s' %s", args[0], args[1], why)}
		}
		return usagef("unrecognized subcommand '%s'\n\n  Usage: ockam %s <COMMAND>\n\n  For more information, try 'ockam %s --help'.", args[1], args[0], args[0])
	}
	return r.runCmd(cmd, args[0]+" "+args[1], args[2:])
}

// runCmd parses a command's arguments and runs it.
func (r *run) runCmd(cmd *command, name string, args []string) error {
	a, err := parseArgs(cmd, args)
	if errors.Is(err, errHelp) {
		r.commandUsage(r.Stdout, name, cmd)
		return nil
	}
	if err != nil {
		return err
	}
	if a.has("to") {
		if a.vals["to"], err = r.stdinRoute(a.str("to")); err != nil {
			return err
		}
	}
	if a.has("output") {
		r.json = a.str("output") == "json"
	}
	h, err := r.findHome()
	if err != nil {
		return err
	}
	r.home = h
	return cmd.run(r, a)
}

// globalFlags takes Ockam's global flags off the front of the command line.
func (r *run) globalFlags(args []string) ([]string, error) {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--output" && len(args) > 1:
			r.json = args[1] == "json"
			args = args[2:]
		case strings.HasPrefix(a, "--output="):
			r.json = strings.TrimPrefix(a, "--output=") == "json"
			args = args[1:]
		case a == "-q" || a == "--quiet":
			r.quiet = true
			args = args[1:]
		case a == "--no-color" || a == "--no-input" || a == "-v" || a == "-vv" || a == "-vvv" || a == "--verbose":
			args = args[1:]
		default:
			return args, nil
		}
	}
	return args, nil
}

// ok prints a line as Ockam's fmt_ok! does, unless --quiet.
func (r *run) ok(format string, args ...any) {
	if !r.quiet {
		fmt.Fprintf(r.Stdout, "  ✔ "+format+"\n", args...)
	}
}
