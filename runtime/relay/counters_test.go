package relay

import (
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// A relay counts its registrations, its reconnects when its connection
// dies, and the round trip of each check.
func TestRelayCounters(t *testing.T) {
	t.Parallel()
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	r, err := Start(n3, "n3", addr, Options{PingInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-r.Ready()
	nodetest.WaitFor(t, "a round trip", func() bool { return r.Counters().RoundTrip.Count >= 2 })
	c := r.Counters()
	if c.Registrations != 1 || c.Reconnects != 0 || c.LastRoundTrip <= 0 {
		t.Errorf("counters %+v, want 1 registration, no reconnect, a round trip", c)
	}
	h := c.RoundTrip
	if h.Cumulative[len(h.Cumulative)-1] > h.Count || h.Sum <= 0 {
		t.Errorf("histogram %+v is inconsistent", h)
	}
	// Cut the relay's connection: it reconnects and registers again.
	var conn runtime.Connection
	for _, c := range n3.Transports().Connections() {
		if c.Address().Value == r.Status().Connection {
			conn = c
		}
	}
	if conn == nil {
		t.Fatal("no relay connection")
	}
	conn.Close()
	nodetest.WaitFor(t, "the relay registered again", func() bool { return r.Counters().Registrations == 2 })
	if got := r.Counters().Reconnects; got != 1 {
		t.Errorf("reconnects = %d, want 1", got)
	}
}

func TestDurationHistogramBuckets(t *testing.T) {
	var h durationHistogram
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 10 * time.Second} {
		h.observe(d)
	}
	s := h.snapshot()
	if s.Count != 4 {
		t.Fatalf("count %d, want 4", s.Count)
	}
	// ≤100µs: two (the bound is inclusive); ≤5ms: three; +Inf: four.
	want := map[float64]uint64{0.0001: 2, 0.0025: 2, 0.005: 3, 2.5: 3}
	for i, b := range RoundTripBuckets {
		if w, ok := want[b]; ok && s.Cumulative[i] != w {
			t.Errorf("bucket ≤%gs = %d, want %d", b, s.Cumulative[i], w)
		}
	}
	if got, want := s.Sum, 50*time.Microsecond+100*time.Microsecond+3*time.Millisecond+10*time.Second; got != want {
		t.Errorf("sum %s, want %s", got, want)
	}
}
