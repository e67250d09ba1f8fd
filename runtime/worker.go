package runtime

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Worker is an actor on a node. The node calls HandleMessage for one message
// at a time, in the order they reached the worker's mailbox. An error is
// logged; the worker keeps running.
type Worker interface {
	HandleMessage(ctx *Context, msg *Routed) error
}

// Inliner is implemented by workers whose HandleMessage never blocks
// longer than a send does, such as Hop, Forwarder and portal streams: when
// Inline reports true, StartWorker and StartService run them on the
// sender's goroutine, with no mailbox between, which saves a goroutine
// switch at every hop, and an idle one costs no goroutine.
type Inliner interface {
	Inline() bool
}

// nowHandler is implemented by workers that may handle a message on the
// sender's goroutine when they are idle (a TCP connection writes its frame
// at once): handled false sends it to the mailbox as usual.
type nowHandler interface {
	HandleNow(m *Routed) (handled bool, err error)
}

// flusher is implemented by workers that batch output; Flush is called when
// their mailbox is empty.
type flusher interface {
	Flush()
}

// Routed is a message delivered to a worker, with the flow it arrived on.
// A worker that forwards it (Context.Forward) must not touch it afterwards.
type Routed struct {
	routing.Message
	flow *flow
	// buf is the pooled buffer the payload lives in, if any.
	buf *[]byte
	// sp, when set, holds the middle of a large payload in a pipe
	// (spliced.go).
	sp *Spliced
}

// Release gives the payload's buffer and pipe back; the payload must not
// be used after it: the part that consumes a message last (a connection
// that wrote it) releases it.
func (r *Routed) Release() {
	putBuffer(r.buf)
	r.buf = nil
	r.dropSplice()
}

// FromNetwork reports whether the message arrived through a transport.
func (r *Routed) FromNetwork() bool { return r.flow != nil }

// DefaultMailboxSize is how many messages a worker's mailbox holds before a
// sender waits.
const DefaultMailboxSize = 128

// worker is the node's record of a running Worker.
//
// A worker with a mailbox has a goroutine only while there is mail: the
// first message into an empty mailbox starts one (wake), which handles
// the messages one at a time, in order, and ends when the mailbox is
// empty. An idle worker costs its record and mailbox, no goroutine (a
// node holds several, and a large topology thousands of nodes).
type worker struct {
	addr    routing.Address
	impl    Worker
	node    *Node
	mailbox chan *Routed
	// done is closed when a mailbox worker is stopped (nil for an inline
	// worker, which nobody waits on: its many idle portal streams save
	// the channel); stopped is set when any worker is.
	done chan struct{}
	stop sync.Once
	// transport is true for connection workers, which accept every flow.
	transport bool
	// service is true for consumers of the node's inbound flow.
	service atomic.Bool
	flows   consumers
	// startedService is whether it was started as a service (Allow can
	// make one too).
	startedService bool
	// inline workers have no mailbox nor goroutine: the sender calls
	// HandleMessage itself, which must not block. Portal streams are
	// inline, so that an idle stream costs no goroutine.
	inline bool
	// ctx is the workers' Context: an inline worker's from the start, a
	// mailbox worker's made by its first goroutine and kept.
	ctx *Context
	// pending counts messages handed to the mailbox and not yet handled
	// (and, for batching workers, flushed).
	pending atomic.Int32
	// running is whether a goroutine handles the mailbox (or is about
	// to): set by the wake that starts it, cleared by it as it ends.
	running atomic.Bool
	stopped atomic.Bool
}

func (w *worker) close() {
	w.stop.Do(func() {
		w.stopped.Store(true)
		if w.done != nil {
			close(w.done)
		}
	})
}

// wake starts the worker's goroutine unless one runs; called after each
// message put into the mailbox, so that a message never waits in a
// mailbox no goroutine will empty.
func (w *worker) wake() {
	if w.running.CompareAndSwap(false, true) && !w.node.goWorker(w) {
		w.running.Store(false) // the node is closing: nothing handles mail now
	}
}

// run handles the mailbox until it is empty, or the worker stops.
func (w *worker) run() {
	if w.ctx == nil { // the goroutines of a worker run one after another
		w.ctx = &Context{node: w.node, w: w, log: w.node.log.With("worker", w.addr.Value)}
	}
	f, batches := w.impl.(flusher)
	for {
		select {
		case <-w.done:
			return
		case m := <-w.mailbox:
			if err := w.impl.HandleMessage(w.ctx, m); err != nil {
				w.ctx.log.Warn("message handling failed", "onward", m.Onward.String(), "return", m.Return.String(), "error", err)
			}
			if batches && len(w.mailbox) == 0 {
				f.Flush()
			}
			w.pending.Add(-1)
			continue
		default:
		}
		// Empty: end, unless mail came in between and its wake found
		// this goroutine still running.
		w.running.Store(false)
		if len(w.mailbox) == 0 || !w.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// deliver puts m into the worker's mailbox, waiting while it is full.
func (w *worker) deliver(ctx context.Context, closing <-chan struct{}, m *Routed) error {
	if err := w.enqueue(ctx, closing, m); err != nil {
		return err
	}
	w.wake()
	return nil
}

func (w *worker) enqueue(ctx context.Context, closing <-chan struct{}, m *Routed) error {
	w.pending.Add(1)
	select {
	case w.mailbox <- m:
		return nil
	default:
	}
	select {
	case w.mailbox <- m:
		return nil
	case <-w.done:
		w.pending.Add(-1)
		return fmt.Errorf("deliver to %s: %w", w.addr, ErrWorkerStopped)
	case <-closing:
		w.pending.Add(-1)
		return ErrNodeClosed
	case <-ctx.Done():
		w.pending.Add(-1)
		return fmt.Errorf("deliver to %s: %w", w.addr, ctx.Err())
	}
}

// Context is what a worker uses to act on its node.
type Context struct {
	node *Node
	w    *worker
	log  hclog.Logger
}

// Address is the worker's own address.
func (c *Context) Address() routing.Address { return c.w.addr }

// Node is the node the worker runs on.
func (c *Context) Node() *Node { return c.node }

// Logger is the worker's logger.
func (c *Context) Logger() hclog.Logger { return c.log }

// Send sends payload along onward, with this worker as the return route.
func (c *Context) Send(onward routing.Route, payload []byte) error {
	return c.node.route(context.Background(), &Routed{Message: routing.Message{
		Onward:  onward,
		Return:  routing.Route{c.w.addr},
		Payload: payload,
	}})
}

// Reply answers msg: payload goes along msg's return route.
func (c *Context) Reply(msg *Routed, payload []byte) error {
	return c.Send(msg.Return, payload)
}

// Forward routes msg on, as it is. The message keeps the flow it arrived
// on, so flow control still applies at the next local worker.
func (c *Context) Forward(msg *Routed) error {
	return c.node.route(context.Background(), msg)
}
