package ockam

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// A command's answer has up to three forms, as Ockam's terminal has them
// (ockam_api's ui/terminal): plain, the human form; machine, the one value
// a script wants (a node's name, a route, an address); and JSON. Which one
// is printed on stdout follows Ockam's choice:
//
//   - with --output json, the JSON form (none if the command has none);
//   - on a terminal, plain, else machine, else JSON;
//   - elsewhere (a pipe, a file, $(...)), machine, else JSON, else plain.
//
// Trailing white space is trimmed and a terminal gets a newline after it;
// a pipe gets none, as from Ockam. Notices (a warning, "It will retry")
// are part of the plain form; --quiet drops the plain form.

// answer is a command's answer in its forms; a form left empty is one
// the command does not have. json may be a func() any, called only when
// the JSON form is printed.
type answer struct {
	plain   string
	machine string
	json    any
}

// answer prints a command's answer in the form stdout takes.
func (r *run) answer(a answer) error {
	plain := a.plain
	if r.quiet {
		plain = ""
	}
	jsonText := func() (string, error) {
		v := a.json
		if f, ok := v.(func() any); ok {
			v = f() // one that costs a question to the node: when asked
		}
		if v == nil {
			return "", nil
		}
		b, err := json.MarshalIndent(v, "", "  ")
		return string(b), err
	}
	var msg string
	var err error
	switch {
	case r.json:
		msg, err = jsonText()
	case r.tty:
		if msg = plain; msg == "" {
			if msg = a.machine; msg == "" {
				msg, err = jsonText()
			}
		}
	default:
		if msg = a.machine; msg == "" {
			if msg, err = jsonText(); msg == "" && err == nil {
				msg = plain
			}
		}
	}
	if err != nil {
		return err
	}
	msg = strings.TrimRight(msg, " \t\n")
	if msg == "" {
		return nil
	}
	if r.tty {
		msg += "\n"
	}
	_, err = fmt.Fprint(r.Stdout, msg)
	return err
}

// okf is a line of the plain form as Ockam's fmt_ok! makes it.
func okf(format string, args ...any) string { return "  ✔ " + fmt.Sprintf(format, args...) + "\n" }

// infof is a line as fmt_info! makes it.
func infof(format string, args ...any) string { return "  > " + fmt.Sprintf(format, args...) + "\n" }

// warnf is a line as fmt_warn! makes it.
func warnf(format string, args ...any) string { return "  ! " + fmt.Sprintf(format, args...) + "\n" }

// logf is a line as fmt_log! makes it.
func logf(format string, args ...any) string { return "    " + fmt.Sprintf(format, args...) + "\n" }

// stdoutIsTerminal reports whether w is a terminal.
func stdoutIsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
