package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// Sending along a route of a running topology (a check, or message send):
//
//  1. The route is walked by the planner, as a check's route is: a route
//     the plan cannot walk (a forwarder nobody registers, a service a node
//     lacks) is a *RouteError at once, with the planner's "did you mean".
//  2. The route is confirmed hop by hop: for each hop that moves the
//     message to another node (a connection, a relay's forwarder), a probe
//     goes along the route so far to that node's echo service. A probe
//     that gets no answer, or an error that means "not there yet" (a
//     connection refused, a forwarder not registered yet), is retried
//     until the deadline: a relay registered by a process that starts
//     later is waited for, not failed.
//  3. The message goes along the whole route.
//
// When the deadline passes, the error is a *HopError naming the route and
// the first hop that was not confirmed.

// RouteError is a route the plan cannot walk from the sending node.
type RouteError struct {
	// Route is the route as given.
	Route string `json:"route"`
	// Summary and Detail are the planner's diagnostic.
	Summary string `json:"summary"`
	Detail  string `json:"detail"`
	// Start and End are the byte offsets in Route of the segment the walk
	// stopped at; both 0 when the diagnostic is about the whole route.
	Start int `json:"start"`
	End   int `json:"end"`
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("%s: %s", e.Summary, e.Detail)
}

// HopError is a route that was not confirmed before the deadline.
type HopError struct {
	// Route is the route, from the sending node.
	Route string
	// Wait is how long the send had: the time left when it began, which
	// a caller that knows the timeout it set may replace with that.
	Wait time.Duration
	// Index is the hop's place in the route, from 1, and Hop the hop.
	Index int
	Hop   topology.Hop
	// Err is the last error seen at that hop.
	Err error
	// Unreachable is set when the hop failed at once, for good (a
	// connection refused, a name that does not resolve): Wait was not
	// waited.
	Unreachable bool
}

func (e *HopError) Error() string {
	hop := strings.Join(strings.Fields(e.Hop.Describe()), " ")
	if e.Unreachable {
		return fmt.Sprintf("along %s: hop %d (%s) is unreachable: %v", e.Route, e.Index, hop, e.Err)
	}
	return fmt.Sprintf("no reply within %s along %s: could not confirm hop %d (%s): %v",
		e.Wait, e.Route, e.Index, hop, e.Err)
}

func (e *HopError) Unwrap() error { return e.Err }

// errNoAnswer is a probe or a message that got no reply in time.
var errNoAnswer = errors.New("no answer")

// walk plans a route typed by a user, sent from node from, as the planner
// plans a check's: it builds the file's nodes again with one check of that
// route. offset is where route starts in the text the user gave, so that
// a RouteError points into that text.
func (r *Running) walk(from, route, given string, offset int) ([]topology.Hop, error) {
	const filename = "route"
	src := fmt.Sprintf("check \"route\" {\n  from = node.sender\n  to   = %s\n  send = \"\"\n}\n", hclQuote(route))
	p := hclparse.NewParser()
	f, diags := schema.Parse(p, filename, []byte(src))
	var sf *schema.File
	if !diags.HasErrors() {
		sf, diags = schema.Decode(f, schema.Overrides{})
	}
	if diags.HasErrors() || len(sf.Checks) != 1 {
		return nil, &RouteError{Route: given, Summary: "Invalid route", Detail: diags.Error()}
	}
	check := sf.Checks[0]
	check.From = schema.Ref{Kind: "node", Name: from}
	sf.Checks = []*schema.Check{check}
	for _, n := range r.topology().Nodes {
		sf.Nodes = append(sf.Nodes, n.Decl)
	}
	for _, nw := range r.topology().Networks {
		sf.Networks = append(sf.Networks, nw.Decl)
	}
	t, diags := topology.Build(sf)
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Subject == nil || d.Subject.Filename != filename {
			continue // the file's own: it was valid when it started
		}
		e := &RouteError{Route: given, Summary: d.Summary, Detail: d.Detail}
		quote := check.To.Range.Start.Byte + 1
		if *d.Subject != check.To.Range && d.Subject.Start.Byte >= quote {
			e.Start = offset + d.Subject.Start.Byte - quote
			e.End = offset + d.Subject.End.Byte - quote
		}
		return nil, e
	}
	return t.Checks[0].Hops, nil
}

// hclQuote quotes s as an HCL string literal whose text between the
// quotes is s itself whenever s needs no escapes (every route does).
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c)
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Probe timing: a probe waits probeFirstWait for its answer, doubling up
// to probeMaxWait; an attempt that fails at once waits retryFirstPause,
// doubling up to retryMaxPause, before the next. The first wait is long
// beside a round trip, so that an answer that is only slow is not taken
// for a lost one.
const (
	probeFirstWait  = 500 * time.Millisecond
	probeMaxWait    = 2 * time.Second
	retryFirstPause = 20 * time.Millisecond
	retryMaxPause   = 500 * time.Millisecond
)

// probePayload is what a probe sends to a node's echo service.
var probePayload = wire.EncodeString("ockamtop: probe")

// sendConfirmed sends payload from node n along m, walked as hops, after
// confirming the route (see the comment at the top of this file), and
// returns the reply. When the route is up, one probe to the last node it
// reaches confirms every hop; otherwise the hops are confirmed one after
// the other, each retried until the deadline.
func (r *Running) sendConfirmed(ctx context.Context, n *runtime.Node, m routing.MultiAddr, hops []topology.Hop, payload []byte) ([]byte, error) {
	start := time.Now()
	// A route with a secure channel is confirmed up to its first
	// listener; the channel is opened (or reused) with each send.
	plain, secured := m, m.HasSecure()
	for i, s := range m {
		if s.Kind == routing.Secure {
			plain = m[:i]
			break
		}
	}
	route, err := r.routeAlong(plain, hops)
	if err != nil {
		return nil, err
	}
	hopError := func(i int, err error) error {
		wait := time.Since(start)
		if dl, ok := ctx.Deadline(); ok {
			wait = dl.Sub(start)
		}
		return &HopError{Route: m.String(), Wait: wait.Round(time.Millisecond), Index: i + 1, Hop: hops[i], Err: err}
	}
	// The hops that move the message to another node, each confirmed by
	// a probe to that node's echo service along the route so far.
	var moves []int
	for i, h := range hops {
		if (h.Kind == topology.HopConnect || h.Kind == topology.HopRelay) && (i+1 < len(route) || secured && i < len(route)) {
			moves = append(moves, i)
		}
	}
	probe := func(ctx context.Context, i int) ([]byte, error) {
		return n.SendAndReceive(ctx, append(route[:i+1:i+1], routing.LocalAddress(routing.EchoService)), probePayload)
	}
	confirmed := false
	if len(moves) > 0 && r.forwardersHere(hops) {
		// A quarter of the time at most, so that there is time left to
		// find the hop at fault when this probe gets no answer.
		wait := probeFirstWait
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl)/4)
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		_, err := probe(pctx, moves[len(moves)-1])
		cancel()
		confirmed = err == nil
	}
	for _, i := range moves {
		if confirmed {
			break
		}
		h := hops[i]
		if h.Kind == topology.HopRelay {
			if err := r.waitForwarder(ctx, h); err != nil {
				return nil, hopError(i, err)
			}
		}
		if _, err := retry(ctx, func(ctx context.Context) ([]byte, error) { return probe(ctx, i) }); err != nil {
			if errors.Is(err, errNoAnswer) {
				err = fmt.Errorf("no answer from node %s through it", h.To)
			}
			return nil, hopError(i, err)
		}
	}
	// The message itself is sent once: the route to its last node is
	// confirmed, and what is at the end may not take a message twice.
	// Only an error that says "not there yet" is retried.
	var reply []byte
	var last error // the last error of a send, when the deadline ends the retries
	engine := r.topology().Engine
	for pause := retryFirstPause; ; pause = min(2*pause, retryMaxPause) {
		full := route
		if secured {
			full, err = r.routeFrom(ctx, n, m, hops)
		}
		if err == nil {
			reply, err = n.SendAndReceive(ctx, full, payload)
		}
		if err == nil || permanent(err) || unreachableSocket(err, hops, engine) || ctx.Err() != nil {
			break
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	switch {
	case err != nil && len(hops) > 0 && unreachableSocket(err, hops, engine):
		he := hopError(firstDial(hops), err).(*HopError)
		he.Unreachable = true
		return nil, he
	case err != nil && len(hops) > 0 && ctx.Err() != nil:
		if last != nil && !errors.Is(last, context.DeadlineExceeded) {
			return nil, hopError(len(hops)-1, fmt.Errorf("%w; the last try: %v", errNoAnswer, last))
		}
		return nil, hopError(len(hops)-1, errNoAnswer)
	}
	return reply, err
}

// firstDial is the index of the first hop that leaves the node the
// message starts at, 0 if none does.
func firstDial(hops []topology.Hop) int {
	for i, h := range hops {
		if h.Kind == topology.HopConnect || h.Kind == topology.HopSocket || h.Kind == topology.HopRelay {
			return i
		}
	}
	return 0
}

// unreachableSocket reports whether err is the failure of the first dial
// of a route, to a socket outside the file, that waiting will not cure: a
// name that does not resolve, a connection refused. A node of the file
// may be starting in another process and is waited for; a socket outside
// it is not. On a container engine a node's name resolves only once its
// container runs, so a name that does not resolve is waited for too.
func unreachableSocket(err error, hops []topology.Hop, engine bool) bool {
	outside := len(hops) > 0 && hops[firstDial(hops)].Kind == topology.HopSocket
	if dns, ok := errors.AsType[*net.DNSError](err); ok && dns.IsNotFound {
		return outside || !engine
	}
	if !outside {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// forwardersHere reports whether every relay forwarder of the route that
// runs on a node here is registered: a message to one that is not would
// be dropped, with a warning in this process's log.
func (r *Running) forwardersHere(hops []topology.Hop) bool {
	for _, h := range hops {
		if h.Kind != topology.HopRelay {
			continue
		}
		if n := r.Node(h.Node); n != nil {
			if _, ok := n.Forwarders()[h.Address]; !ok {
				return false
			}
		}
	}
	return true
}

// waitForwarder waits until the relay's forwarder is registered, when the
// node that runs it runs here (see forwardersHere).
func (r *Running) waitForwarder(ctx context.Context, h topology.Hop) error {
	n := r.Node(h.Node)
	if n == nil {
		return nil // elsewhere: the probe finds out
	}
	pause := retryFirstPause
	for {
		if _, ok := n.Forwarders()[h.Address]; ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s has no forwarder %s: node %s has not registered its relay", h.Node, h.Address, h.To)
		case <-time.After(pause):
		}
		pause = min(2*pause, retryMaxPause)
	}
}

// retry calls send until it succeeds, fails with an error that waiting
// does not cure, or ctx ends. Each call has a deadline of its own, so that
// a message dropped on the way (no answer ever comes) is sent again. A
// call that got no answer returns an error wrapping errNoAnswer.
func retry(ctx context.Context, send func(context.Context) ([]byte, error)) ([]byte, error) {
	wait, pause := probeFirstWait, retryFirstPause
	for {
		actx, cancel := context.WithTimeout(ctx, wait)
		reply, err := send(actx)
		cancel()
		switch {
		case err == nil:
			return reply, nil
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			err = errNoAnswer
			wait = min(2*wait, probeMaxWait)
		case permanent(err):
			return nil, err
		default:
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, retryMaxPause)
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
}

// permanent reports whether an error will not go away by waiting.
func permanent(err error) bool {
	for _, p := range []error{runtime.ErrFlowDenied, runtime.ErrDialDenied, runtime.ErrUnsupportedTransport,
		runtime.ErrEmptyOnwardRoute, runtime.ErrNodeClosed, runtime.ErrAddressInUse, securechannel.ErrRefused} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}
