package runtime_test

import (
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// Message rate through one in-process hop; the TCP and UDP hops are
// runtime/tcp's and runtime/udp's. Run: go test -run '^$' -bench . -benchmem ./runtime/

func BenchmarkInProcessHop(b *testing.B) {
	n, _ := nodetest.Node(b, "n1", runtime.Options{})
	s := nodetest.NewBenchSink(b.N)
	if err := n.StartService("sink", s); err != nil {
		b.Fatal(err)
	}
	if err := n.StartService("h1", runtime.Hop{}); err != nil {
		b.Fatal(err)
	}
	nodetest.BenchSend(b, n, nodetest.Local("h1", "sink"), s)
}
