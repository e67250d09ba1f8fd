package ockam

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The command line as clap parses Ockam's: long flags --name VALUE or
// --name=VALUE, a few short ones (-f, -y, -t), switches without a value,
// and positional arguments anywhere among them. "--" ends the flags.

// flagSpec is one flag of a command.
type flagSpec struct {
	name  string
	short string // "" for none
	// value names the flag's value in the help; "" for a switch.
	value string
	help  string
	// def is the value when the flag is not given ("" for none).
	def string
}

// command is one verb of a group (node create).
type command struct {
	about string
	// pos names the positional arguments in the help: "[NAME]",
	// "MESSAGE".
	pos        string
	minPos     int
	maxPos     int
	flags      []flagSpec
	run        func(r *run, a *args) error
	hiddenFlag []string
}

// outputFlag is --output, which list and show take.
var outputFlag = flagSpec{name: "output", value: "FORMAT", help: "the output format: plain or json"}

// args is a parsed command line.
type args struct {
	pos  []string
	vals map[string]string
}

// errHelp is --help, asked for.
var errHelp = errors.New("help")

func (a *args) has(name string) bool { _, ok := a.vals[name]; return ok }
func (a *args) str(name string) string {
	return a.vals[name]
}
func (a *args) flag(name string) bool {
	v, ok := a.vals[name]
	return ok && v != "false"
}
func (a *args) arg(i int) string {
	if i < len(a.pos) {
		return a.pos[i]
	}
	return ""
}

func parseArgs(cmd *command, in []string) (*args, error) {
	a := &args{vals: map[string]string{}}
	lookup := func(name string, short bool) *flagSpec {
		for i := range cmd.flags {
			f := &cmd.flags[i]
			if !short && f.name == name || short && f.short != "" && f.short == name {
				return f
			}
		}
		return nil
	}
	for i := 0; i < len(in); i++ {
		s := in[i]
		switch {
		case s == "--":
			a.pos = append(a.pos, in[i+1:]...)
			i = len(in)
		case s == "--help" || s == "-h":
			return nil, errHelp
		case strings.HasPrefix(s, "--") || len(s) == 2 && s[0] == '-' && s != "-":
			short := !strings.HasPrefix(s, "--")
			name, val, hasVal := strings.Cut(strings.TrimLeft(s, "-"), "=")
			f := lookup(name, short)
			if f == nil {
				return nil, usagef("unexpected argument '%s' found\n\n  For more information, try '--help'.", s)
			}
			switch {
			case f.value == "" && hasVal:
				a.vals[f.name] = val
			case f.value == "":
				a.vals[f.name] = "true"
			case hasVal:
				a.vals[f.name] = val
			case i+1 < len(in):
				i++
				a.vals[f.name] = in[i]
			default:
				return nil, usagef("a value is required for '--%s <%s>' but none was supplied", f.name, f.value)
			}
		default:
			a.pos = append(a.pos, s)
		}
	}
	if len(a.pos) < cmd.minPos {
		return nil, usagef("the following required arguments were not provided: %s", cmd.pos)
	}
	if cmd.maxPos >= 0 && len(a.pos) > cmd.maxPos {
		return nil, usagef("unexpected argument '%s' found", a.pos[cmd.maxPos])
	}
	for _, f := range cmd.flags {
		if _, ok := a.vals[f.name]; !ok && f.def != "" {
			a.vals[f.name] = f.def
		}
	}
	return a, nil
}

// usage is `ockam --help`.
func (r *run) usage(w io.Writer) {
	fmt.Fprintf(w, "Ockam's command line, the local subset, run by ockamtop.\n\nUsage: %s <COMMAND>\n\nCommands:\n", strings.Join(r.Prefix, " "))
	for _, name := range groupNames() {
		fmt.Fprintf(w, "  %-24s %s\n", name, groupAbout[name])
	}
	fmt.Fprintf(w, "\nNot supported here (they need Ockam's hosted service, or are not part of the local subset):\n  %s\n", strings.Join(unsupportedNames(), ", "))
}

func (r *run) groupUsage(w io.Writer, name string, group map[string]*command) {
	fmt.Fprintf(w, "%s\n\nUsage: %s %s <COMMAND>\n\nCommands:\n", groupAbout[name], strings.Join(r.Prefix, " "), name)
	for _, verb := range sortedKeys(group) {
		fmt.Fprintf(w, "  %-10s %s\n", verb, group[verb].about)
	}
}

func (r *run) commandUsage(w io.Writer, name string, cmd *command) {
	fmt.Fprintf(w, "%s\n\nUsage: %s %s [OPTIONS] %s\n", cmd.about, strings.Join(r.Prefix, " "), name, cmd.pos)
	if len(cmd.flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOptions:\n")
	for _, f := range cmd.flags {
		if slices.Contains(cmd.hiddenFlag, f.name) {
			continue
		}
		spell := "    --" + f.name
		if f.short != "" {
			spell = "-" + f.short + ", --" + f.name
		}
		if f.value != "" {
			spell += " <" + f.value + ">"
		}
		fmt.Fprintf(w, "  %s\n          %s", spell, f.help)
		if f.def != "" {
			fmt.Fprintf(w, " [default: %s]", f.def)
		}
		fmt.Fprintln(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
