package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// relayFuzzSentinel is a valid name registered after every invalid
// registration: its reply proves the relay service has handled the message
// before it, as one connection's messages reach the service in order.
const relayFuzzSentinel = "fuzz-sentinel"

// relayFuzzReset is how many forwarders the fuzzer lets pile up on its
// connection before it starts a new one, below MaxRelaysPerConnection.
const relayFuzzReset = runtime.MaxRelaysPerConnection - 4

// relayFuzz is the pair of nodes FuzzRelayRegistration sends through: n3
// dials n2, as a relay's node does, and registers over that connection.
type relayFuzz struct {
	n2, n3  *runtime.Node
	n2Addr  string
	conn    runtime.Connection // n3's connection to n2
	replies chan []byte
}

// replyRecorder is n3's worker at the end of the registrations' return
// route.
type replyRecorder struct{ ch chan []byte }

func (r replyRecorder) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	select {
	case r.ch <- append([]byte(nil), m.Payload...):
	default: // nobody is waiting for so many: a test failure will say so
	}
	return nil
}

const relayFuzzInbox = "fuzz-inbox"

func newRelayFuzz(tb testing.TB) *relayFuzz {
	tb.Helper()
	r := &relayFuzz{
		n2:      runtime.NewNode("n2", runtime.Options{Transports: []runtime.NewTransport{tcp.New}}),
		n3:      runtime.NewNode("n3", runtime.Options{Transports: []runtime.NewTransport{tcp.New}}),
		replies: make(chan []byte, 16),
	}
	tb.Cleanup(func() {
		r.n3.Close()
		r.n2.Close()
	})
	l, err := tcp.Listen(r.n2, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.n2Addr = l.Addr()
	if err := r.n3.StartWorker(relayFuzzInbox, replyRecorder{r.replies}); err != nil {
		tb.Fatal(err)
	}
	r.connect(tb)
	return r
}

func (r *relayFuzz) connect(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tcp.Connect(ctx, r.n3, r.n2Addr, tcp.ConnectOptions{Inbound: true})
	if err != nil {
		tb.Fatal(err)
	}
	r.conn = c
}

// reset closes the connection, which takes its forwarders with it, and
// dials a new one.
func (r *relayFuzz) reset(tb testing.TB) {
	tb.Helper()
	r.conn.Close()
	nodetest.WaitFor(tb, "the forwarders of a closed connection to go", func() bool {
		return len(r.n2.Forwarders()) == 0 && len(r.n2.Transports().Connections()) == 0
	})
	r.drain()
	r.connect(tb)
}

func (r *relayFuzz) drain() {
	for {
		select {
		case <-r.replies:
		default:
			return
		}
	}
}

// register sends payload to n2's static relay service over the connection.
func (r *relayFuzz) register(tb testing.TB, payload []byte) {
	tb.Helper()
	err := r.n3.Send(context.Background(), routing.Message{
		Onward:  routing.Route{r.conn.Address(), routing.LocalAddress(routing.StaticRelayService)},
		Return:  routing.Route{routing.LocalAddress(relayFuzzInbox)},
		Payload: payload,
	})
	if err != nil {
		tb.Fatalf("send registration %x: %v", payload, err)
	}
}

// await waits for the reply to a registration of name.
func (r *relayFuzz) await(tb testing.TB, name string) {
	tb.Helper()
	want := routing.Forwarder(name)
	select {
	case p := <-r.replies:
		got, err := wire.String(p)
		if err != nil || got != want {
			tb.Fatalf("registration of %q: reply %x (%q, %v), want BARE %q", name, p, got, err, want)
		}
	case <-time.After(5 * time.Second):
		tb.Fatalf("registration of %q: no reply in 5s; n2's forwarders: %v", name, r.n2.Forwarders())
	}
}

// n2Conn is the address of n2's end of the connection.
func (r *relayFuzz) n2Conn(tb testing.TB) string {
	tb.Helper()
	cs := r.n2.Transports().Connections()
	if len(cs) != 1 {
		tb.Fatalf("n2 has %d connections, want 1", len(cs))
	}
	return cs[0].Address().Value
}

// FuzzRelayRegistration sends arbitrary payloads to the relay service as
// registrations over a real connection. The node must not panic; a payload
// that is a BARE string with a valid relay name is answered with the BARE
// string "forward_to_"+name and leaves that forwarder, over the
// registration's connection; anything else leaves the forwarders as they
// were.
func FuzzRelayRegistration(f *testing.F) {
	for _, seed := range [][]byte{
		wire.EncodeString("n3"),
		wire.EncodeString(relayFuzzSentinel),
		wire.EncodeString("a"),
		wire.EncodeString(strings.Repeat("r", routing.MaxRelayName)),
		wire.EncodeString(strings.Repeat("r", routing.MaxRelayName+1)),
		wire.EncodeString(""),
		wire.EncodeString("n 3"),
		wire.EncodeString("n/3"),
		wire.EncodeString("n#3"),
		wire.EncodeString("n\x003"),
		wire.EncodeString("é"),
		wire.EncodeString("\xff"),
		{0x80, 0x01, 'x'},
		{0x82, 0x00, 'n', '3'}, // non-minimal length: a valid BARE "n3"
		{0x09, 'x'},
		{0x02, 'n', '3', 0x00},
		nil,
	} {
		f.Add(seed)
	}
	r := newRelayFuzz(f)
	r.register(f, wire.EncodeString(relayFuzzSentinel))
	r.await(f, relayFuzzSentinel)

	f.Fuzz(func(t *testing.T, payload []byte) { r.check(t, payload) })
}

// check sends one registration and checks what became of it.
func (r *relayFuzz) check(t *testing.T, payload []byte) {
	t.Helper()
	if len(r.n2.Forwarders()) >= relayFuzzReset {
		r.reset(t)
		r.register(t, wire.EncodeString(relayFuzzSentinel))
		r.await(t, relayFuzzSentinel)
	}
	r.drain()
	before := r.n2.Forwarders()
	name, err := wire.String(payload)
	valid := err == nil && routing.ValidRelayName(name) == nil

	r.register(t, payload)
	answered := name
	if !valid {
		r.register(t, wire.EncodeString(relayFuzzSentinel))
		answered = relayFuzzSentinel
	}
	r.await(t, answered)

	after := r.n2.Forwarders()
	conn := r.n2Conn(t)
	want := map[string]string{}
	for k, v := range before {
		want[k] = v
	}
	want[routing.Forwarder(answered)] = conn
	if fmt.Sprint(after) != fmt.Sprint(want) { // Sprint sorts map keys
		t.Fatalf("registration %x (valid %v): forwarders\n got %v\nwant %v", payload, valid, after, want)
	}
	if !r.n2.HasWorker(routing.Forwarder(answered)) {
		t.Fatalf("registration %x: no worker %s", payload, routing.Forwarder(answered))
	}
	if err == nil && !valid && r.n2.HasWorker(routing.Forwarder(name)) {
		t.Fatalf("invalid registration %x (name %q) made worker %s", payload, name, routing.Forwarder(name))
	}
}

// The harness itself: more valid names than one connection may register
// make it start new connections, and every registration still checks out.
func TestRelayFuzzHarnessResets(t *testing.T) {
	r := newRelayFuzz(t)
	r.register(t, wire.EncodeString(relayFuzzSentinel))
	r.await(t, relayFuzzSentinel)
	for i := 0; i < 2*runtime.MaxRelaysPerConnection; i++ {
		r.check(t, wire.EncodeString(fmt.Sprintf("name-%d", i)))
		r.check(t, []byte{0x09, 'x'})
	}
}
