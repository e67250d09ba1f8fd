package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Reply string `json:"reply,omitempty"`
	Error string `json:"error,omitempty"`
}

// RunChecks runs the file's checks whose node runs here, in file order.
func (r *Running) RunChecks(ctx context.Context) []CheckResult {
	return r.runChecks(ctx, func(string) bool { return true })
}

// runChecks runs the checks whose node runs here and whose name want
// takes, in file order.
func (r *Running) runChecks(ctx context.Context, want func(name string) bool) []CheckResult {
	var out []CheckResult
	for _, c := range r.topology().Checks {
		n := r.Node(c.From.Name)
		if n == nil || !want(c.Name) {
			continue
		}
		res := CheckResult{Name: c.Name}
		cctx, cancel := context.WithTimeout(ctx, c.Decl.Timeout)
		reply, err := r.sendConfirmed(cctx, n, c.Route, c.Hops, wire.EncodeString(c.Send))
		cancel()
		if he, ok := errors.AsType[*HopError](err); ok {
			he.Wait = c.Decl.Timeout // what the file says, not what was left of it
		}
		if err == nil {
			res.Reply, err = wire.String(reply)
		}
		switch {
		case err != nil:
			res.Error = err.Error()
		case c.HasExpect && res.Reply != c.Expect:
			res.Error = fmt.Sprintf("got %q, want %q", res.Reply, c.Expect)
		default:
			res.OK = true
		}
		out = append(out, res)
	}
	r.mu.Lock()
	r.checks = out
	r.mu.Unlock()
	return out
}
