package udp_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Messages over a lossy UDP hop arrive whole or not at all: every reply
// that comes is the message sent, byte for byte.
func TestUDPLossyRoutes(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	proxy := nodetest.NewLossyUDPProxy(t, n2Addr, 1, 0.03, 0.03, 0.03)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	r := routing.Route{routing.UDPAddress(proxy.Addr), routing.LocalAddress("echo")}
	var answered atomic.Int32
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < 120; i += 4 {
				s := fmt.Sprintf("%03d:%s", i, strings.Repeat(string(rune('a'+i%26)), (i%6)*400))
				got, err := nodetest.TrySend(n1, r, s, time.Second)
				if err != nil {
					continue // lost: allowed
				}
				if got != s {
					t.Errorf("message %d came back changed: %d bytes, want %d", i, len(got), len(s))
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of 120 round trips answered", answered.Load())
	// About 80 % come back; a quarter is plenty on a loaded machine, and
	// the point is that none comes back changed.
	if answered.Load() < 30 {
		t.Fatalf("only %d of 120 round trips answered over 3%% loss", answered.Load())
	}
}
