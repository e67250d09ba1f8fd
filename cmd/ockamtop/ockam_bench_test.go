package main

import (
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// BenchmarkOckamCommands times Ockam's commands as a user runs them, each
// a process of the real binary (the test binary under the name ockam, on
// the PATH testscript.Main made): tcp-outlet create returns once the
// outlet is up in the node's process; node create once the node's process
// is up. It reports the median and the 90th percentile. node-create-growing
// creates a node more each time and keeps it (with -benchtime 100x, the
// 2nd to the 102nd node of the session), and tcp-outlet-create-grown then
// creates outlets with those nodes running: how the cost grows with the
// session.
//
//	go test ./cmd/ockamtop -run '^$' -bench OckamCommands -benchtime 100x
func BenchmarkOckamCommands(b *testing.B) {
	home := b.TempDir()
	ockam := func(b *testing.B, args ...string) {
		cmd := exec.Command("ockam", args...)
		cmd.Env = append(cmd.Environ(), "OCKAM_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ockam %v: %v\n%s", args, err, out)
		}
	}
	b.Cleanup(func() { ockam(b, "node", "delete", "--all", "--yes") })
	ockam(b, "node", "create", "n1")
	report := func(b *testing.B, took []time.Duration) {
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2])/1e6, "ms-median")
		b.ReportMetric(float64(took[len(took)*9/10])/1e6, "ms-p90")
	}
	outlets := 0 // b.Run runs the function more than once: a new name each time
	b.Run("tcp-outlet-create", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		for range b.N {
			outlets++
			start := time.Now()
			ockam(b, "tcp-outlet", "create", "--at", "n1", "--from", fmt.Sprintf("o%d", outlets), "--to", "127.0.0.1:9")
			took = append(took, time.Since(start))
		}
		report(b, took)
	})
	b.Run("node-create", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		for range b.N {
			start := time.Now()
			ockam(b, "node", "create", "n2")
			took = append(took, time.Since(start))
			b.StopTimer()
			ockam(b, "node", "delete", "n2")
			b.StartTimer()
		}
		report(b, took)
	})
	grown := 0
	b.Run("node-create-growing", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		for range b.N {
			grown++
			start := time.Now()
			ockam(b, "node", "create", fmt.Sprintf("g%d", grown))
			took = append(took, time.Since(start))
		}
		report(b, took)
	})
	b.Run("tcp-outlet-create-grown", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		for range b.N {
			outlets++
			start := time.Now()
			ockam(b, "tcp-outlet", "create", "--at", "n1", "--from", fmt.Sprintf("o%d", outlets), "--to", "127.0.0.1:9")
			took = append(took, time.Since(start))
		}
		report(b, took)
	})
}
