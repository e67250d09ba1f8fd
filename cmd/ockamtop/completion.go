package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

var completionCommand = &command{
	name:    "completion",
	args:    "bash|zsh",
	short:   "Print a shell completion script for bash or zsh",
	summary: "Print a script that completes ockamtop's commands, subcommands and flags in bash or zsh. Load it with: source <(ockamtop completion bash)",
	words:   []string{"bash", "zsh"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		pos, err := parseArgs(c, fs, args, 1, 1)
		if err != nil {
			return err
		}
		switch pos[0] {
		case "bash":
			writeBashCompletion(c.stdout, completions(c))
		case "zsh":
			writeZshCompletion(c.stdout, completions(c))
		default:
			fmt.Fprintf(c.stderr, "ockamtop completion: unknown shell %q (want bash or zsh)\n", pos[0])
			return errUsage
		}
		return nil
	},
}

// completion is what a shell offers after one command.
type completion struct {
	cmd   *command
	flags []*flag.Flag
}

// completions reads every command's flags from the command table, as its
// help does: the command registers them, then is asked for help.
func completions(c *cli) []completion {
	var out []completion
	for _, cmd := range sortedCommands() {
		out = append(out, completion{cmd: cmd, flags: commandFlags(c, cmd)})
	}
	return out
}

// commandFlags are the flags cmd registers.
func commandFlags(c *cli, cmd *command) []*flag.Flag {
	quiet := *c
	quiet.stdout, quiet.stderr = io.Discard, io.Discard
	fs := newFlagSet(&quiet, cmd)
	_ = cmd.run(&quiet, fs, []string{"-h"})
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	return flags
}

func writeBashCompletion(w io.Writer, cs []completion) {
	var names []string
	for _, c := range cs {
		names = append(names, c.cmd.name)
	}
	fmt.Fprintf(w, `# bash completion for ockamtop. Load it with:
#   source <(ockamtop completion bash)
_ockamtop() {
	local cur=${COMP_WORDS[COMP_CWORD]} flags="" words=""
	COMPREPLY=()
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W %q -- "$cur"))
		return
	fi
	case ${COMP_WORDS[1]} in
`, strings.Join(names, " "))
	for _, c := range cs {
		var flags []string
		for _, f := range c.flags {
			flags = append(flags, "--"+f.Name)
		}
		fmt.Fprintf(w, "\t%s) flags=%q; words=%q ;;\n", c.cmd.name, strings.Join(flags, " "), strings.Join(c.cmd.words, " "))
	}
	fmt.Fprint(w, `	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	elif [[ $COMP_CWORD -eq 2 && -n $words ]]; then
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
	fi
}
complete -o default -F _ockamtop ockamtop
`)
}

func writeZshCompletion(w io.Writer, cs []completion) {
	fmt.Fprint(w, `#compdef ockamtop
# zsh completion for ockamtop. Load it with:
#   source <(ockamtop completion zsh)
# or save it as _ockamtop in a directory of $fpath.
_ockamtop() {
	local -a commands
	commands=(
`)
	for _, c := range cs {
		fmt.Fprintf(w, "\t\t%s\n", zshQuote(c.cmd.name+":"+c.cmd.short))
	}
	fmt.Fprint(w, `	)
	if (( CURRENT == 2 )); then
		_describe -t commands 'ockamtop command' commands
		return
	fi
	local cmd=$words[2]
	shift words
	(( CURRENT-- ))
	case $cmd in
`)
	for _, c := range cs {
		fmt.Fprintf(w, "\t%s)\n\t\t_arguments", c.cmd.name)
		for _, f := range c.flags {
			spec := "--" + f.Name + "[" + zshEscape(firstSentence(f.Usage)) + "]"
			if name, _ := flag.UnquoteUsage(f); name != "" {
				spec += ":" + strings.ToLower(name) + ":_files"
			}
			fmt.Fprintf(w, " \\\n\t\t\t%s", zshQuote(spec))
		}
		if len(c.cmd.words) > 0 {
			fmt.Fprintf(w, " \\\n\t\t\t%s", zshQuote("1:subcommand:("+strings.Join(c.cmd.words, " ")+")"))
		}
		fmt.Fprintf(w, " \\\n\t\t\t'*:file:_files' ;;\n")
	}
	fmt.Fprint(w, `	esac
}
if (( $+functions[compdef] )); then
	compdef _ockamtop ockamtop
fi
`)
}

// firstSentence cuts a flag's usage to its first clause, for a menu.
func firstSentence(s string) string {
	for _, sep := range []string{";", " (", ": ", ", as "} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimSpace(s)
}

// zshEscape escapes what _arguments reads in a description.
func zshEscape(s string) string {
	return strings.NewReplacer("[", `\[`, "]", `\]`, ":", `\:`, "`", "").Replace(s)
}

// zshQuote quotes s for zsh in single quotes.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
