// Package warnlimit rate-limits the warnings a transport logs about one
// peer or one listener (bad frames, bad datagrams, connections past a
// limit), and logs a connection's end with the count of those held back.
package warnlimit

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Every is how often one peer (or one listener) may log a warning
// about bad input: a flood of bad frames or datagrams, or of connections
// past a listener's limit, makes one line per interval, not one per frame.
const Every = 10 * time.Second

// Limit rate-limits the warnings about one peer or one listener: the
// first goes through, then at most one each Every, with the count of
// those held back since the last one. The held-back ones go to the trace
// log, the only level at which a node logs a line per message anyway.
// It is lock-free: the readers and senders that warn are hot paths.
type Limit struct {
	// last is when a warning last went through, UnixNano; 0: never.
	last atomic.Int64
	// held counts the warnings held back since.
	held atomic.Uint64
}

// Warn logs msg with args as a warning if none went through in the last
// Every, and holds it back otherwise.
func (w *Limit) Warn(log hclog.Logger, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := w.last.Load()
	if (last == 0 || now-last >= int64(Every)) && w.last.CompareAndSwap(last, now) {
		if n := w.held.Swap(0); n > 0 {
			args = append(args, "held_back_since_last", n)
		}
		log.Warn(msg, append(args, "note", "more such warnings within "+Every.String()+" are counted, not logged")...)
		return
	}
	w.held.Add(1)
	if log.IsTrace() {
		log.Trace(msg, args...)
	}
}

// Flush returns the count of warnings held back since the last one went
// through, and resets it: a closing connection logs it with its last line.
func (w *Limit) Flush() uint64 { return w.held.Swap(0) }

// LogClosed logs a connection's end: a warning when it has a reason, or
// when warnings about its peer were held back (their count), debug
// otherwise or when the node is shutting down. A warning goes through
// limit when there is one.
func LogClosed(log hclog.Logger, quiet bool, reason error, held uint64, limit *Limit) {
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
		limit.Warn(log, "connection closed", args...)
	default:
		log.Warn("connection closed", args...)
	}
}
