package outage

import (
	"testing"
	"time"
)

// An outage warns at its first failure, then after growing gaps, and says
// how long it lasted when it is mended.
func TestOutageWarnsWithBackoff(t *testing.T) {
	var o Tracker
	t0 := time.Unix(0, 0)
	var warned []time.Duration
	for s := 0; s <= 120; s++ { // a failure every second for two minutes
		now := t0.Add(time.Duration(s) * time.Second)
		if warn, _ := o.Failed(now); warn {
			warned = append(warned, now.Sub(t0))
		}
	}
	want := []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second}
	if len(warned) != len(want) {
		t.Fatalf("warned at %v, want %v", warned, want)
	}
	for i := range want {
		if warned[i] != want[i] {
			t.Fatalf("warned at %v, want %v", warned, want)
		}
	}
	was, lasted, failures := o.Mended(t0.Add(121 * time.Second))
	if !was || lasted != 121*time.Second || failures != 121 {
		t.Fatalf("mended: %v %v %d", was, lasted, failures)
	}
	if was, _, _ := o.Mended(t0.Add(122 * time.Second)); was {
		t.Fatal("mended twice")
	}
	if warn, _ := o.Failed(t0.Add(200 * time.Second)); !warn {
		t.Fatal("a new outage does not warn at once")
	}
}
