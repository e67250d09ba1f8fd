package portal

import (
	"math/rand/v2"
	"testing"
)

const largeExtra = LargeWindow - DefaultWindow

// Streams that ask for a large window alone take all of it; once more ask
// than the budget holds, each is meant to have an equal share, and the
// first ones, which took more, come down to it as far as what they have
// out allows, while a newcomer takes only what the budget has free.
func TestWindowBudgetShare(t *testing.T) {
	t.Parallel()
	var b windowBudget
	extras := make([]int, 0, maxLargeStreams+1)
	for i := range maxLargeStreams {
		b.join()
		extras = append(extras, b.settle(0, largeExtra, -DefaultWindow))
		if extras[i] != largeExtra {
			t.Fatalf("stream %d of %d: extra %d, want a large window's %d", i, maxLargeStreams, extras[i], largeExtra)
		}
	}
	if held, _ := b.holding(); held != largeBudget {
		t.Fatalf("held %d, want the whole budget %d", held, largeBudget)
	}
	// The next one finds nothing free: the default window.
	b.join()
	late := b.settle(0, largeExtra, -DefaultWindow)
	if late != 0 {
		t.Fatalf("stream past the budget: extra %d, want 0", late)
	}
	share := largeBudget / (maxLargeStreams + 1)

	// A stream with all of its large window still out keeps it: the
	// other end may send it all.
	if got := b.settle(extras[0], largeExtra, largeExtra); got != largeExtra {
		t.Fatalf("all out: extra %d, want %d kept", got, largeExtra)
	}
	// With some of it written, down to what is still out.
	out := share + 100<<10
	if extras[0] = b.settle(extras[0], largeExtra, out); extras[0] != out {
		t.Fatalf("some out: extra %d, want %d (what is out)", extras[0], out)
	}
	// With little out, down to the share.
	for i := range extras {
		if extras[i] = b.settle(extras[i], largeExtra, 0); extras[i] != share {
			t.Fatalf("stream %d: extra %d, want the share %d", i, extras[i], share)
		}
	}
	// The newcomer takes its share from what they freed.
	if late = b.settle(late, largeExtra, 0); late != share {
		t.Fatalf("late stream: extra %d, want the share %d", late, share)
	}
	// A stream that asks for less than the share keeps to what it asked.
	if got := b.settle(late, share/2, 0); got != share/2 {
		t.Fatalf("small want: extra %d, want %d", got, share/2)
	}

	// One leaves: the others grow again when they next settle.
	b.leave(extras[0])
	extras = extras[1:]
	if held, wanting := b.holding(); wanting != maxLargeStreams || held != (maxLargeStreams-1)*share+share/2 {
		t.Fatalf("after one left: held %d by %d streams", held, wanting)
	}
	if got := b.settle(extras[0], largeExtra, 0); got != largeBudget/maxLargeStreams {
		t.Fatalf("after one left: extra %d, want %d", got, largeBudget/maxLargeStreams)
	}
}

// However streams come, go and settle, the budget never holds more than
// its size, and it holds exactly what the streams hold; once what they
// have out is written and they settle again, they all have the share.
func TestWindowBudgetBound(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var b windowBudget
	type stream struct{ extra, out int }
	var streams []*stream
	check := func(step int) {
		t.Helper()
		held, wanting := b.holding()
		sum := 0
		for _, s := range streams {
			sum += s.extra
			if s.out > s.extra {
				t.Fatalf("step %d: a stream has %d out above its default window, holding %d", step, s.out, s.extra)
			}
		}
		if held != sum || wanting != len(streams) || held > largeBudget || held < 0 {
			t.Fatalf("step %d: budget holds %d for %d streams; they hold %d of %d", step, held, wanting, sum, largeBudget)
		}
	}
	for step := range 20000 {
		switch r := rng.IntN(10); {
		case r == 0 && len(streams) < 200:
			b.join()
			s := &stream{out: -DefaultWindow}
			s.extra = b.settle(0, largeExtra, s.out)
			streams = append(streams, s)
		case r == 1 && len(streams) > 0:
			i := rng.IntN(len(streams))
			b.leave(streams[i].extra)
			streams = append(streams[:i], streams[i+1:]...)
		case len(streams) > 0:
			// A stream wrote some of what was out, and settles: what it
			// may have out after is its extra above the default window.
			s := streams[rng.IntN(len(streams))]
			s.out = rng.IntN(s.extra+DefaultWindow+1) - DefaultWindow
			s.extra = b.settle(s.extra, largeExtra, s.out)
			s.out = s.extra // given back up to its limit
		}
		check(step)
	}
	// All written: two rounds of settling bring everyone to the share
	// (the first frees what was over it, the second hands it out).
	for range 2 {
		for _, s := range streams {
			s.extra = b.settle(s.extra, largeExtra, -DefaultWindow)
			s.out = s.extra
		}
	}
	check(-1)
	want := min(largeExtra, largeBudget/max(len(streams), 1))
	for i, s := range streams {
		if s.extra != want {
			t.Fatalf("stream %d of %d: extra %d after settling, want the share %d", i, len(streams), s.extra, want)
		}
	}
}
