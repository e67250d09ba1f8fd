// Package outage tracks a failure that repeats until it is mended, so that
// a log says it once, then again with growing gaps, and says when it is
// over. The node library's relay client and TCP inlet use it; it knows
// nothing of either.
package outage

import (
	"sync"
	"time"
)

// Tracker tracks a failure that repeats until it is mended (a relay that
// cannot register, an inlet whose route is down), so that its log says it
// once, then again with growing gaps, not at every retry; and says when it
// is over, next to the warning that announced it.
type Tracker struct {
	mu       sync.Mutex
	start    time.Time     // guarded by mu; zero while all is well
	nextWarn time.Time     // guarded by mu
	gap      time.Duration // guarded by mu; until the next warning
	failures int           // guarded by mu; since start
}

// Gaps between the warnings of one outage.
const (
	firstGap = 10 * time.Second
	maxGap   = 5 * time.Minute
)

// Failed records a failure at now. warn says whether to log it as a
// warning; failures counts them since the outage began.
func (o *Tracker) Failed(now time.Time) (warn bool, failures int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	switch {
	case o.start.IsZero():
		o.start, o.gap = now, firstGap
	case now.Before(o.nextWarn):
		return false, o.failures
	default:
		o.gap = min(2*o.gap, maxGap)
	}
	o.nextWarn = now.Add(o.gap)
	return true, o.failures
}

// Mended ends the outage, if there was one: it says how long it lasted and
// how many failures it saw.
func (o *Tracker) Mended(now time.Time) (was bool, lasted time.Duration, failures int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.start.IsZero() {
		return false, 0, 0
	}
	was, lasted, failures = true, now.Sub(o.start), o.failures
	o.start, o.failures = time.Time{}, 0
	return was, lasted, failures
}
