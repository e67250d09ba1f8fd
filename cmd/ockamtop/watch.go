package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"
)

// A running apply applies its file again on SIGHUP, and with --watch on
// every save. The watch polls rather than subscribing to file events: a
// topology is one small file or a few, editors save them in several ways
// (in place, or a new file renamed over the old), and polling sees every
// one the same. Each poll stats the files; only when a name, size or
// modification time differs are they read and hashed, and only a new hash
// is a change. A change is applied once the files have been quiet for
// watchQuiet, so that an editor's save in several writes is applied once,
// whole.

const (
	// watchInterval is how often the watch polls the files.
	watchInterval = 100 * time.Millisecond
	// watchQuiet is how long the files must stay the same before a change
	// is applied.
	watchQuiet = 300 * time.Millisecond
)

// awaitChanges waits until ctx ends, applying the file again on SIGHUP and,
// with watch, whenever it is saved with new content.
func (c *cli) awaitChanges(ctx context.Context, rc *reconciler, watch bool) {
	defer signal.Stop(rc.hup)
	var saved chan struct{}
	if watch {
		saved = make(chan struct{}, 1)
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		w := newFileWatch(rc.path, watchInterval, watchQuiet)
		wg.Go(func() { w.run(wctx, saved) })
		defer func() {
			cancel()
			wg.Wait()
		}()
		fmt.Fprintf(c.stderr, "ockamtop: watching %s; a save applies it\n", rc.path)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-rc.hup:
			rc.apply(ctx, nil, false, "SIGHUP")
		case <-saved:
			rc.apply(ctx, nil, false, "--watch")
		}
	}
}

// fileWatch polls a topology, a file or a directory's .hcl files.
type fileWatch struct {
	path            string
	interval, quiet time.Duration
	// stamp and sum are the files' names, sizes and times, and the hash
	// of their names and contents, at the last poll.
	stamp, sum string
	// applied is the hash last reported (or found at the start).
	applied string
	// changed is when sum last changed.
	changed time.Time
}

func newFileWatch(path string, interval, quiet time.Duration) *fileWatch {
	w := &fileWatch{path: path, interval: interval, quiet: quiet}
	w.stamp = stamp(path)
	w.sum = contentSum(path)
	w.applied = w.sum
	return w
}

// run polls until ctx ends, sending on ch (without waiting: one pending
// signal is enough) each time the files have new content that has been
// quiet for w.quiet.
func (w *fileWatch) run(ctx context.Context, ch chan<- struct{}) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if w.poll(now) {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}
}

// poll looks at the files once, and reports whether a change is ready to
// apply.
func (w *fileWatch) poll(now time.Time) bool {
	if s := stamp(w.path); s != w.stamp {
		w.stamp = s
		if sum := contentSum(w.path); sum != w.sum {
			w.sum, w.changed = sum, now
		}
	}
	if w.sum == w.applied || now.Sub(w.changed) < w.quiet {
		return false
	}
	w.applied = w.sum
	return true
}

// stamp names the topology's files with their sizes and modification
// times; a file that cannot be read is named with its error.
func stamp(path string) string {
	names := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		names, _ = topologyFiles(path)
	}
	var b strings.Builder
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", n, err)
			continue
		}
		fmt.Fprintf(&b, "%s %d %d\n", n, st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

// contentSum hashes the topology's file names and contents.
func contentSum(path string) string {
	srcs, err := readSources(path)
	if err != nil {
		return "error: " + err.Error()
	}
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", s.Filename, len(s.Bytes))
		h.Write(s.Bytes)
	}
	return hex.EncodeToString(h.Sum(nil))
}
