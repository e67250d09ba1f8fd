package runtime_test

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

// The seeds' examples, one node: the echoer one hop away, then through one
// and through many hop workers.

func TestEchoerOneHopAway(t *testing.T) {
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	if got := nodetest.SendString(t, n, nodetest.Local("echo"), "Hello Ockam!"); got != "Hello Ockam!" {
		t.Fatalf("reply %q", got)
	}
	if got := nodetest.SendString(t, n, nodetest.Local("uppercase"), "hello"); got != "HELLO" {
		t.Fatalf("uppercase reply %q", got)
	}
}

func TestRoutingThroughHops(t *testing.T) {
	for _, hops := range []int{1, 3, 10} {
		t.Run(fmt.Sprintf("%d hops", hops), func(t *testing.T) {
			n, _ := nodetest.Node(t, "n1", runtime.Options{})
			rec := nodetest.NewRecorder()
			if err := n.StartService("echoer", rec); err != nil {
				t.Fatal(err)
			}
			var onward []string
			for i := 1; i <= hops; i++ {
				name := fmt.Sprintf("h%d", i)
				if err := n.StartService(name, runtime.Hop{}); err != nil {
					t.Fatal(err)
				}
				onward = append(onward, name)
			}
			if got := nodetest.SendString(t, n, nodetest.Local(append(onward, "echoer")...), "Hello Ockam!"); got != "Hello Ockam!" {
				t.Fatalf("reply %q", got)
			}
			// The echoer saw every hop on the return route, last hop first,
			// then the app's own address.
			m := <-rec.C
			if len(m.Onward) != 1 || m.Onward[0] != routing.LocalAddress("echoer") {
				t.Fatalf("onward at echoer = %s", m.Onward)
			}
			if len(m.Return) != hops+1 {
				t.Fatalf("return at echoer = %s", m.Return)
			}
			for i := 0; i < hops; i++ {
				if want := routing.LocalAddress(fmt.Sprintf("h%d", hops-i)); m.Return[i] != want {
					t.Fatalf("return at echoer = %s, want %s at %d", m.Return, want, i)
				}
			}
		})
	}
}

func TestUnknownAddressIsAnErrorForALocalSender(t *testing.T) {
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	err := n.Send(context.Background(), routing.Message{Onward: nodetest.Local("nobody")})
	if !errors.Is(err, runtime.ErrNoSuchAddress) {
		t.Fatalf("Send to nobody = %v", err)
	}
	if err := n.Send(context.Background(), routing.Message{}); !errors.Is(err, runtime.ErrEmptyOnwardRoute) {
		t.Fatalf("Send with no route = %v", err)
	}
	err = n.Send(context.Background(), routing.Message{Onward: routing.Route{{Type: 9, Value: "x"}}})
	if !errors.Is(err, runtime.ErrUnsupportedTransport) {
		t.Fatalf("Send over transport 9 = %v", err)
	}
}

func TestWorkerLifecycle(t *testing.T) {
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	if err := n.StartService("echo", runtime.Echo{}); !errors.Is(err, runtime.ErrAddressInUse) {
		t.Fatalf("second echo = %v", err)
	}
	if err := n.StartWorker("h1", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	if err := n.StopWorker("h1"); err != nil {
		t.Fatal(err)
	}
	if n.HasWorker("h1") {
		t.Fatal("h1 still runs")
	}
	if err := n.StopWorker("h1"); !errors.Is(err, runtime.ErrNoSuchAddress) {
		t.Fatalf("stopping twice = %v", err)
	}
	n.Close()
	if err := n.StartWorker("late", runtime.Hop{}); !errors.Is(err, runtime.ErrNodeClosed) {
		t.Fatalf("start after close = %v", err)
	}
	if _, err := nodetest.TrySend(n, nodetest.Local("echo"), "x", 0); !errors.Is(err, runtime.ErrNodeClosed) {
		t.Fatalf("send after close = %v", err)
	}
}

func TestSendAndReceiveTimesOut(t *testing.T) {
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	if err := n.StartService("void", Forgetter{}); err != nil {
		t.Fatal(err)
	}
	_, err := nodetest.TrySend(n, nodetest.Local("void"), "x", 50*1e6)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendAndReceive = %v, want a deadline error", err)
	}
}

// Forgetter takes messages and never answers.
type Forgetter struct{}

func (Forgetter) HandleMessage(*runtime.Context, *runtime.Routed) error { return nil }

// At trace level a node logs every message it routes: where it goes, how
// to answer, how large it is.
func TestTraceLogsEveryMessage(t *testing.T) {
	logs := &nodetest.LogBuffer{}
	n := runtime.NewNode("n1", runtime.Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})})
	defer n.Close()
	if err := n.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	if got := nodetest.SendString(t, n, nodetest.Local("hop", "echo"), "hello"); got != "hello" {
		t.Fatalf("reply %q", got)
	}
	logs.WaitLog(t, `route: node=n1 onward="0#hop => 0#echo"`)
	logs.WaitLog(t, "bytes=6")
}

// Disallow undoes Allow, and leaves a service a service.
func TestDisallow(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	if err := responder.StartWorker("mine", nodetest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	addr := nodetest.Listen(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)
	to := func(name string) routing.Route { return routing.Route{conn.Address(), routing.LocalAddress(name)} }

	responder.Allow("mine")
	if got := nodetest.SendString(t, initiator, to("mine"), "allowed"); got != "allowed" {
		t.Fatalf("allowed: %q", got)
	}
	responder.Disallow("mine")
	// A new connection: "mine" answered over the first one, and consumes
	// its flow now, as any worker that sent over a connection does.
	fresh, err := tcp.Connect(context.Background(), initiator, addr, tcp.ConnectOptions{Dedicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodetest.TrySend(initiator, routing.Route{fresh.Address(), routing.LocalAddress("mine")}, "x", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after Disallow: %v, want no reply", err)
	}
	responder.Allow("echo")
	responder.Disallow("echo")
	if got := nodetest.SendString(t, initiator, to("echo"), "service"); got != "service" {
		t.Fatalf("echo after Disallow: %q", got)
	}
}
