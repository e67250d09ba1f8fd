package ockam

import (
	"strings"
	"testing"
)

// TestAnswerForms: the form of an answer that stdout takes, as Ockam's
// terminal picks it.
func TestAnswerForms(t *testing.T) {
	t.Parallel()
	full := answer{plain: okf("Created a new Node named n1"), machine: "n1", json: map[string]string{"name": "n1"}}
	noMachine := answer{plain: "│ Node n1\n", json: []string{"n1"}}
	plainOnly := answer{plain: "HELLO\n"}
	for _, c := range []struct {
		name             string
		tty, json, quiet bool
		a                answer
		want             string
	}{
		{"terminal", true, false, false, full, "  ✔ Created a new Node named n1\n"},
		{"pipe", false, false, false, full, "n1"},
		{"json on a terminal", true, true, false, full, "{\n  \"name\": \"n1\"\n}\n"},
		{"json to a pipe", false, true, false, full, "{\n  \"name\": \"n1\"\n}"},
		{"a list to a pipe", false, false, false, noMachine, "[\n  \"n1\"\n]"},
		{"a list on a terminal", true, false, false, noMachine, "│ Node n1\n"},
		{"a reply to a pipe", false, false, false, plainOnly, "HELLO"},
		{"a reply as json: none", false, true, false, plainOnly, ""},
		{"quiet on a terminal", true, false, true, full, "n1\n"},
		{"lazy json", false, false, false, answer{json: func() any { return 1 }}, "1"},
	} {
		var out strings.Builder
		r := &run{Env: Env{Stdout: &out}, tty: c.tty, json: c.json, quiet: c.quiet}
		if err := r.answer(c.a); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out.String() != c.want {
			t.Errorf("%s: printed %q, want %q", c.name, out.String(), c.want)
		}
	}
}
