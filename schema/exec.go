package schema

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Exec is an `exec "NAME" { command = [...] wait_for = "host:port" }`
// block: a process apply starts with the node (in the node's network
// namespace when it has networks), logs the output of, and stops with it.
type Exec struct {
	Name      string
	NameRange hcl.Range
	DeclRange hcl.Range
	// Command is the program and its arguments; the program is looked up
	// in PATH.
	Command      []String `hcl:"command"`
	CommandRange hcl.Range
	// WaitFor is a socket address apply waits for the process to accept
	// connections on, dialed from the node's namespace; nil: no wait.
	WaitFor *String `hcl:"wait_for"`
	// Timeout bounds that wait (DefaultExecTimeout).
	Timeout time.Duration `hcl:"timeout"`
}

// DefaultExecTimeout is how long apply waits for an exec's wait_for by
// default.
const DefaultExecTimeout = 30 * time.Second

var execSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "command", Required: true},
	{Name: "wait_for"},
	{Name: "timeout"},
}}

func decodeExec(b *hcl.Block, ev *evaluator) (*Exec, hcl.Diagnostics) {
	x := &Exec{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange, Timeout: DefaultExecTimeout}
	diags := validName("exec", x.Name, x.NameRange)
	content, d := b.Body.Content(execSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["command"]; ok {
		x.CommandRange = attr.Expr.Range()
		cmd, d := ev.strings(attr)
		diags = append(diags, d...)
		if !d.HasErrors() && (len(cmd) == 0 || cmd[0].Known() && cmd[0].Value == "") {
			diags = append(diags, ErrorAt(attr.Expr.Range(), "Empty command",
				"The command is a program and its arguments, such as [\"python3\", \"-m\", \"http.server\"]; it needs the program at least."))
		}
		x.Command = cmd
	}
	if attr, ok := content.Attributes["wait_for"]; ok {
		s, d := ev.socket(attr, false)
		diags = append(diags, d...)
		x.WaitFor = &s
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		var d hcl.Diagnostics
		x.Timeout, d = ev.duration(attr)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return x, diags
}
