package runtime

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The seeds' examples, one node: the echoer one hop away, then through one
// and through many hop workers.

func TestEchoerOneHopAway(t *testing.T) {
	n, _ := testNode(t, "n1", Options{})
	if got := sendString(t, n, local("echo"), "Hello Ockam!"); got != "Hello Ockam!" {
		t.Fatalf("reply %q", got)
	}
	if got := sendString(t, n, local("uppercase"), "hello"); got != "HELLO" {
		t.Fatalf("uppercase reply %q", got)
	}
}

func TestRoutingThroughHops(t *testing.T) {
	for _, hops := range []int{1, 3, 10} {
		t.Run(fmt.Sprintf("%d hops", hops), func(t *testing.T) {
			n, _ := testNode(t, "n1", Options{})
			rec := newRecorder()
			if err := n.StartService("echoer", rec); err != nil {
				t.Fatal(err)
			}
			var onward []string
			for i := 1; i <= hops; i++ {
				name := fmt.Sprintf("h%d", i)
				if err := n.StartService(name, Hop{}); err != nil {
					t.Fatal(err)
				}
				onward = append(onward, name)
			}
			if got := sendString(t, n, local(append(onward, "echoer")...), "Hello Ockam!"); got != "Hello Ockam!" {
				t.Fatalf("reply %q", got)
			}
			// The echoer saw every hop on the return route, last hop first,
			// then the app's own address.
			m := <-rec.ch
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
	n, _ := testNode(t, "n1", Options{})
	err := n.Send(context.Background(), routing.Message{Onward: local("nobody")})
	if !errors.Is(err, ErrNoSuchAddress) {
		t.Fatalf("Send to nobody = %v", err)
	}
	if err := n.Send(context.Background(), routing.Message{}); !errors.Is(err, ErrEmptyOnwardRoute) {
		t.Fatalf("Send with no route = %v", err)
	}
	err = n.Send(context.Background(), routing.Message{Onward: routing.Route{{Type: 9, Value: "x"}}})
	if !errors.Is(err, ErrUnsupportedTransport) {
		t.Fatalf("Send over transport 9 = %v", err)
	}
}

func TestWorkerLifecycle(t *testing.T) {
	n, _ := testNode(t, "n1", Options{})
	if err := n.StartService("echo", Echo{}); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("second echo = %v", err)
	}
	if err := n.StartWorker("h1", Hop{}); err != nil {
		t.Fatal(err)
	}
	if err := n.StopWorker("h1"); err != nil {
		t.Fatal(err)
	}
	if n.HasWorker("h1") {
		t.Fatal("h1 still runs")
	}
	if err := n.StopWorker("h1"); !errors.Is(err, ErrNoSuchAddress) {
		t.Fatalf("stopping twice = %v", err)
	}
	n.Close()
	if err := n.StartWorker("late", Hop{}); !errors.Is(err, ErrNodeClosed) {
		t.Fatalf("start after close = %v", err)
	}
	if _, err := trySend(n, local("echo"), "x", 0); !errors.Is(err, ErrNodeClosed) {
		t.Fatalf("send after close = %v", err)
	}
}

func TestSendAndReceiveTimesOut(t *testing.T) {
	n, _ := testNode(t, "n1", Options{})
	if err := n.StartService("void", Forgetter{}); err != nil {
		t.Fatal(err)
	}
	_, err := trySend(n, local("void"), "x", 50*1e6)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendAndReceive = %v, want a deadline error", err)
	}
}

// Forgetter takes messages and never answers.
type Forgetter struct{}

func (Forgetter) HandleMessage(*Context, *Routed) error { return nil }

// At trace level a node logs every message it routes: where it goes, how
// to answer, how large it is.
func TestTraceLogsEveryMessage(t *testing.T) {
	logs := &logBuffer{}
	n := NewNode("n1", Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})})
	defer n.Close()
	if err := n.StartService("hop", Hop{}); err != nil {
		t.Fatal(err)
	}
	if got := sendString(t, n, local("hop", "echo"), "hello"); got != "hello" {
		t.Fatalf("reply %q", got)
	}
	logs.waitLog(t, `route: node=n1 onward="0#hop => 0#echo"`)
	logs.waitLog(t, "bytes=6")
}

// Disallow undoes Allow, and leaves a service a service.
func TestDisallow(t *testing.T) {
	responder, _ := testNode(t, "responder", Options{})
	if err := responder.StartWorker("mine", newRecorder()); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, responder)
	initiator, _ := testNode(t, "initiator", Options{})
	conn := connect(t, initiator, addr)
	to := func(name string) routing.Route { return routing.Route{conn.Address(), routing.LocalAddress(name)} }

	responder.Allow("mine")
	if got := sendString(t, initiator, to("mine"), "allowed"); got != "allowed" {
		t.Fatalf("allowed: %q", got)
	}
	responder.Disallow("mine")
	// A new connection: "mine" answered over the first one, and consumes
	// its flow now, as any worker that sent over a connection does.
	fresh, err := initiator.Connect(context.Background(), addr, ConnectOptions{Dedicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trySend(initiator, routing.Route{fresh.Address(), routing.LocalAddress("mine")}, "x", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after Disallow: %v, want no reply", err)
	}
	responder.Allow("echo")
	responder.Disallow("echo")
	if got := sendString(t, initiator, to("echo"), "service"); got != "service" {
		t.Fatalf("echo after Disallow: %q", got)
	}
}
