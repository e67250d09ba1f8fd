package ockam

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// defaultTimeout is message send's --timeout, as Ockam's TimeoutArg.
const defaultTimeout = 10 * time.Second

var messageCommands = map[string]*command{
	"send": {
		about: "Send a message to an Ockam node", pos: "MESSAGE", minPos: 1, maxPos: 1,
		flags: []flagSpec{
			{name: "from", short: "f", value: "NODE", help: "the node that sends it (default: a temporary node)"},
			{name: "to", short: "t", value: "ROUTE", help: "the route to send it along; -/ROUTE reads its start from standard input"},
			{name: "timeout", value: "TIMEOUT", help: "how long to wait for the reply", def: "10s"},
			{name: "hex", help: "the message is hex encoded"},
			{name: "no-retry", help: "accepted: a message is sent once"},
			{name: "retry-count", value: "COUNT", help: "accepted"},
			{name: "retry-delay", value: "DELAY", help: "accepted"},
		},
		run: messageSend,
	},
}

func messageSend(r *run, a *args) error {
	if !a.has("to") {
		return usagef("the following required arguments were not provided: --to <ROUTE>")
	}
	timeout, err := parseTimeout(a.str("timeout"))
	if err != nil {
		return err
	}
	msg := []byte(a.arg(0))
	if a.flag("hex") {
		if msg, err = hex.DecodeString(a.arg(0)); err != nil {
			return failf("The message is not a valid hex string: %v", err)
		}
	}
	s, err := r.home.read()
	if err != nil {
		return err
	}
	var reply []byte
	if a.has("from") {
		n, err := s.resolveNode(a.str("from"))
		if err != nil {
			return err
		}
		to, err := r.route(s, n, a.str("to"))
		if err != nil {
			return err
		}
		if !r.running(n) {
			return failf("Node %s is not running", n.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
		defer cancel()
		var out messageReply
		if err := call(ctx, r.home.socket(n.PID), "POST", "/message", messageRequest{To: to, Message: msg, Timeout: timeout.String()}, &out); err != nil {
			return failf("node %s does not answer: %v", n.Name, err)
		}
		if out.Error != "" {
			return failf("%s", out.Error)
		}
		reply = out.Reply
	} else {
		to, err := r.route(s, nil, a.str("to"))
		if err != nil {
			return err
		}
		if reply, err = r.sendFromTemporaryNode(s, to, msg, timeout); err != nil {
			return err
		}
	}
	text, err := wire.String(reply)
	if err != nil {
		text = string(reply) // not a BARE string: the bytes as they are
	}
	return r.answer(answer{plain: text})
}

// parseTimeout reads --timeout: a duration (10s, 1m) or seconds.
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("invalid value '%s' for '--timeout <TIMEOUT>': a duration such as 10s", s)
	}
	return d, nil
}

// sendFromTemporaryNode sends from a node made for this message, in this
// process, as Ockam's message send without --from does: the session's
// topology with one more node, which alone runs here.
func (r *run) sendFromTemporaryNode(s *Session, to string, msg []byte, timeout time.Duration) ([]byte, error) {
	name := fmt.Sprintf("ockam-message-send-%d", os.Getpid())
	id := r.home.identityFile(defaultIdentity)
	if _, err := r.home.loadIdentity(defaultIdentity, true); err != nil {
		return nil, err
	}
	src := append(s.HCL(r.home.identityDir()), fmt.Appendf(nil, "\nnode %s {\n  identity = %s\n}\n", quote(name), quote(id))...)
	t, err := planHCL("session.hcl", src)
	if err != nil {
		return nil, err
	}
	local, diags := t.Subset([]string{name})
	if diags.HasErrors() {
		return nil, failf("%s", diagnosticText(diags))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	running, err := deploy.Start(ctx, t, local, deploy.StartOptions{
		Logger:      hclog.NewNullLogger(),
		IdentityDir: r.home.identityDir(),
	})
	if err != nil {
		return nil, failf("start a temporary node: %v", err)
	}
	defer running.Stop()
	reply, err := running.Send(ctx, name, to, wire.EncodeString(string(msg)))
	if err != nil {
		return nil, failf("%s", sendError(err, timeout))
	}
	return reply, nil
}
