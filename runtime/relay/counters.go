package relay

import (
	"sync/atomic"
	"time"
)

// A relay's counters are plain atomics on the relay, added to on the paths
// that already have the figures; topology/observe reads snapshots.

// RoundTripBuckets are the upper bounds, in seconds, of the buckets of a
// relay's round-trip histogram: from 100µs (loopback) to 2.5s (the check
// timeout is 2s by default).
var RoundTripBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// durationHistogram counts durations into RoundTripBuckets, with atomics:
// one writer, and readers at any time.
type durationHistogram struct {
	buckets [15]atomic.Uint64 // len(RoundTripBuckets) and +Inf
	sumNano atomic.Int64
}

func (h *durationHistogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(RoundTripBuckets) && s > RoundTripBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNano.Add(int64(d))
}

// Histogram is a snapshot of a histogram of durations.
type Histogram struct {
	// Count is the number of observations; Sum their total.
	Count uint64
	Sum   time.Duration
	// Cumulative[i] counts the observations of at most
	// RoundTripBuckets[i] seconds.
	Cumulative []uint64
}

func (h *durationHistogram) snapshot() Histogram {
	out := Histogram{Cumulative: make([]uint64, len(RoundTripBuckets)), Sum: time.Duration(h.sumNano.Load())}
	for i := range h.buckets {
		out.Count += h.buckets[i].Load()
		if i < len(RoundTripBuckets) {
			out.Cumulative[i] = out.Count
		}
	}
	return out
}

// counters are a relay's.
type counters struct {
	registrations  atomic.Uint64
	reconnects     atomic.Uint64
	failedAttempts atomic.Uint64
	lastRoundTrip  atomic.Int64 // nanoseconds
	roundTrip      durationHistogram
}

// Counters is a snapshot of a relay's counters.
type Counters struct {
	// Registrations counts successful registrations; Reconnects the times
	// a registered relay lost its connection and began to reconnect;
	// FailedAttempts the attempts to connect and register that failed.
	Registrations, Reconnects, FailedAttempts uint64
	// LastRoundTrip is the round trip of the last end-to-end check that
	// was answered (0 before the first); RoundTrip all of them.
	LastRoundTrip time.Duration
	RoundTrip     Histogram
}

// Counters returns a snapshot of the relay's counters.
func (r *Relay) Counters() Counters {
	c := &r.count
	return Counters{
		Registrations: c.registrations.Load(), Reconnects: c.reconnects.Load(),
		FailedAttempts: c.failedAttempts.Load(),
		LastRoundTrip:  time.Duration(c.lastRoundTrip.Load()),
		RoundTrip:      c.roundTrip.snapshot(),
	}
}
