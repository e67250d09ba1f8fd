package runtime

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// warnEvery is how often one peer (or one listener) may log a warning
// about bad input: a flood of bad frames or datagrams, or of connections
// past a listener's limit, makes one line per interval, not one per frame.
const warnEvery = 10 * time.Second

// warnLimit rate-limits the warnings about one peer or one listener: the
// first goes through, then at most one each warnEvery, with the count of
// those held back since the last one. The held-back ones go to the trace
// log, the only level at which a node logs a line per message anyway.
// It is lock-free: the readers and senders that warn are hot paths.
type warnLimit struct {
	// last is when a warning last went through, UnixNano; 0: never.
	last atomic.Int64
	// held counts the warnings held back since.
	held atomic.Uint64
}

// warn logs msg with args as a warning if none went through in the last
// warnEvery, and holds it back otherwise.
func (w *warnLimit) warn(log hclog.Logger, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := w.last.Load()
	if (last == 0 || now-last >= int64(warnEvery)) && w.last.CompareAndSwap(last, now) {
		if n := w.held.Swap(0); n > 0 {
			args = append(args, "held_back_since_last", n)
		}
		log.Warn(msg, append(args, "note", "more such warnings within "+warnEvery.String()+" are counted, not logged")...)
		return
	}
	w.held.Add(1)
	if log.IsTrace() {
		log.Trace(msg, args...)
	}
}

// flush returns the count of warnings held back since the last one went
// through, and resets it: a closing connection logs it with its last line.
func (w *warnLimit) flush() uint64 { return w.held.Swap(0) }

// logClosed logs a connection's end: a warning when it has a reason, or
// when warnings about its peer were held back (their count), debug
// otherwise or when the node is shutting down. A warning goes through
// limit when there is one.
func logClosed(log hclog.Logger, quiet bool, reason error, held uint64, limit *warnLimit) {
	var args []any
	if reason != nil {
		args = append(args, "reason", reason)
	}
	if held > 0 {
		args = append(args, "warnings_held_back", held)
	}
	switch {
	case quiet || len(args) == 0:
		log.Debug("connection closed", args...)
	case limit != nil:
		limit.warn(log, "connection closed", args...)
	default:
		log.Warn("connection closed", args...)
	}
}
