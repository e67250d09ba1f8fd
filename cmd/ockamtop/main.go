// Command ockamtop runs Ockam-style routing topologies from HCL files.
//
// Usage:
//
//	ockamtop <command> [flags] [arguments]
//
// Run `ockamtop help` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Exit codes. A command returns an error, and main turns it into the exit
// code in one place, exitCode:
//
//   - nil: exitOK;
//   - an *exitError (errUsage, errInvalid, errHelp): its code; the command
//     has already told the user what went wrong;
//   - any other error: printed as "ockamtop: ERROR", then exitInvalid.
//
// No function returns a bare int meaning "go on".
const (
	exitOK      = 0
	exitInvalid = 1 // invalid input, a failed check, a failed start
	exitUsage   = 2 // the command line itself is wrong
)

// exitError ends a command with an exit code after it has reported why.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

var (
	// errInvalid ends a command whose problem (invalid input, a failed
	// check, a failed start) has been reported.
	errInvalid = &exitError{exitInvalid}
	// errUsage ends a command whose command line is wrong, reported.
	errUsage = &exitError{exitUsage}
	// errHelp ends a command that printed its help as asked: success.
	errHelp = &exitError{exitOK}
)

// exitCode maps a command's error to the process's exit code, printing an
// error that has not been reported yet.
func (c *cli) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
	return exitInvalid
}

// command is one verb of the CLI.
type command struct {
	name string
	args string // the usage line after the verb and [flags]
	// short is the command's line in 'ockamtop help'; summary says more,
	// in 'ockamtop help COMMAND'.
	short   string
	summary string
	// words are what its first argument may be, when it names a
	// subcommand (identity create|show); completion offers them.
	words []string
	// run parses its own flags from the FlagSet it is given and does the
	// work. Its error becomes the exit code in main (see exitCode).
	run func(c *cli, fs *flag.FlagSet, args []string) error
}

var commands []*command

func init() {
	// Registration only, so that help can list every command.
	commands = []*command{
		validateCommand, planCommand, graphCommand, fmtCommand,
		applyCommand, checkCommand, statusCommand, messageCommand, downCommand,
		identityCommand, versionCommand, completionCommand, exportCommand,
		ockamCommand, importCommand,
	}
}

// cli is the process's environment, so that tests can run the CLI in-process.
type cli struct {
	stdout, stderr io.Writer
	env            []string
	// netPrivilege says whether this process may make network namespaces
	// (nil: the real check); tests inject one that says no.
	netPrivilege func() error
	// userNamespace runs the command again in a user namespace of its
	// own and returns its exit code (nil: runInUserNamespace).
	userNamespace func() (int, error)
}

func main() {
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, env: os.Environ()}
	if invokedAsOckam(os.Args[0]) {
		os.Exit(c.runOckam(os.Args[:1], os.Args[1:]))
	}
	os.Exit(c.main(os.Args[1:]))
}

func (c *cli) main(args []string) int {
	return c.exitCode(c.dispatch(args))
}

// dispatch runs the command the arguments name.
func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		c.usage(c.stderr)
		return errUsage
	}
	name := args[0]
	switch name {
	case "-version", "--version":
		// As terraform and most tools take it; the same as `ockamtop version`.
		return versionCommand.run(c, newFlagSet(c, versionCommand), args[1:])
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if cmd := lookup(args[1]); cmd != nil {
				// The command registers its flags, then -h prints them.
				fs := newFlagSet(c, cmd)
				fs.SetOutput(c.stdout)
				_ = cmd.run(c, fs, []string{"-h"})
				return nil
			}
			fmt.Fprintf(c.stderr, "ockamtop: unknown command %q\n", args[1])
			return errUsage
		}
		c.usage(c.stdout)
		return nil
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(c.stderr, "ockamtop: unknown command %q\n\n", name)
		c.usage(c.stderr)
		return errUsage
	}
	return cmd.run(c, newFlagSet(c, cmd), args[1:])
}

func lookup(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "ockamtop runs Ockam-style routing topologies from HCL files.\n\n")
	fmt.Fprintf(w, "Usage:\n  ockamtop <command> [flags] [arguments]\n\nCommands:\n")
	for _, cmd := range sortedCommands() {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.short)
	}
	fmt.Fprintf(w, "\nRun 'ockamtop help <command>' for a command's flags.\n")
}

// sortedCommands is the command table in the order of the names.
func sortedCommands() []*command {
	return slices.SortedFunc(slices.Values(commands), func(a, b *command) int { return strings.Compare(a.name, b.name) })
}

func newFlagSet(c *cli, cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("ockamtop "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n", strings.TrimSpace("ockamtop "+cmd.name+" [flags] "+cmd.args), cmd.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(out, "\nFlags:\n")
			printFlags(out, fs)
		}
	}
	return fs
}

// printFlags lists fs's flags as the docs spell them, --name, each with
// its value's name and its default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseFlags parses args into fs, reporting an error in the docs'
// spelling of flags (--name), with the usage after it.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
	case err != nil:
		msg := strings.NewReplacer("flag: -", "flag: --", "flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
		fmt.Fprintf(out, "%s: %s\n", fs.Name(), msg)
		fs.Usage()
	}
	return err
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments ("message send hello --to ROUTE"), and returns the
// positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseArgs parses flags and checks the number of positional arguments. An
// error (errHelp or errUsage, reported) ends the command.
func parseArgs(c *cli, fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, errUsage // parseFlags printed the error and the usage
	}
	if len(pos) < min || max >= 0 && len(pos) > max {
		want := strconv.Itoa(min)
		switch {
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		case max != min:
			want = fmt.Sprintf("%d to %d", min, max)
		}
		fmt.Fprintf(c.stderr, "ockamtop %s: want %s arguments, got %d", strings.TrimPrefix(fs.Name(), "ockamtop "), want, len(pos))
		if len(pos) > 0 {
			fmt.Fprintf(c.stderr, " (%s)", strings.Join(pos, " "))
		}
		fmt.Fprintln(c.stderr)
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}
