package securechannel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

// The relay node sees ciphertext only: a secret sent through the channel
// never crosses n2's connections in clear, and it does without the
// channel.
func TestSecureChannelRelaySeesCiphertext(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	enc := p.channel(t)
	const secret = "the-secret-through-the-channel"
	if got := nodetest.SendString(t, p.n1, routing.Route{enc, routing.LocalAddress("uppercase")}, secret); got != strings.ToUpper(secret) {
		t.Fatalf("got %q", got)
	}
	if p.tap.Saw(secret) || p.tap.Saw(strings.ToUpper(secret)) {
		t.Fatal("the relay node's connections carried the plaintext")
	}
	// The same route without the channel carries it in clear.
	const plain = "the-secret-without-the-channel"
	nodetest.SendString(t, p.n1, append(p.toAPI[:2:2], routing.LocalAddress("uppercase")), plain)
	if !p.tap.Saw(plain) {
		t.Fatal("the tap did not see a plaintext message: it taps nothing")
	}
	// The channel is reused, and both sides list it with the peer's
	// identifier.
	if again := p.channel(t); again != enc {
		t.Fatalf("second open made a new channel %s, want %s", again, enc)
	}
	id1, _ := p.sc1.Identifier()
	id3, _ := p.sc3.Identifier()
	if cs := p.sc1.List(); len(cs) != 1 || cs[0].Peer != id3.String() || !cs[0].Initiator {
		t.Fatalf("n1 channels: %+v", cs)
	}
	if cs := p.sc3.List(); len(cs) != 1 || cs[0].Peer != id1.String() || cs[0].Route != "api" {
		t.Fatalf("n3 channels: %+v", cs)
	}
}

func TestSecureChannelUntrustedRefused(t *testing.T) {
	other, err := secure.NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := newSecurePath(t, ListenerOptions{Trust: []secure.Identifier{other.Identifier}})
	// The initiator never reports a channel the listener has not
	// accepted: the listener's Close says it refused, at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = p.sc1.Open(ctx, p.toAPI)
	id1, _ := p.sc1.Identifier()
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), id1.String()) {
		t.Fatalf("Open by an untrusted initiator: %v, want ErrRefused naming %s", err, id1)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the refusal took %s: it waited for the timeout", time.Since(start))
	}
	p.logs1.WaitLog(t, "secure channel refused by the listener")
	if strings.Contains(p.logs1.String(), "secure channel established") {
		t.Errorf("n1 says a refused channel was established:\n%s", p.logs1)
	}
	p.logs3.WaitLog(t, "identifier="+id1.String())
	if !strings.Contains(p.logs3.String(), "not trusted") {
		t.Fatalf("no refusal in n3's log:\n%s", p.logs3)
	}
	if cs := p.sc3.List(); len(cs) != 0 {
		t.Fatalf("n3 keeps a refused channel: %+v", cs)
	}
	if cs := p.sc1.List(); len(cs) != 0 {
		t.Fatalf("n1 keeps a refused channel: %+v", cs)
	}
	if c1, c3 := p.sc1.Counters(), p.sc3.Counters(); c1.Refused != 1 || c3.Refused != 1 || c1.Handshakes != 0 || c3.Open != 0 {
		t.Errorf("counters after a refusal: n1 %+v, n3 %+v", c1, c3)
	}
}

func TestSecureChannelTrusted(t *testing.T) {
	id1, err := secure.NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := newSecurePath(t, ListenerOptions{Trust: []secure.Identifier{id1.Identifier}})
	p.n1.Close()
	p.n1, p.logs1 = nodetest.Node(t, "n1", runtime.Options{})
	p.sc1 = New(p.n1, Options{Identity: id1})
	enc := p.channel(t)
	if got := nodetest.SendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "hi"); got != "hi" {
		t.Fatal(got)
	}
}

// channelAt returns the side of a channel of s whose encryptor is at enc.
func channelAt(t testing.TB, s *Channels, enc routing.Address) *channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[enc.Value]
	if c == nil {
		t.Fatalf("no channel at %s", enc)
	}
	return c
}

// sealTo encrypts a Payload for onward with c's encryptor, as the
// encryptor worker does, and returns the encrypted message.
func sealTo(c *channel, onward, ret routing.Route, body string) []byte {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	sealed, _ := c.enc.Seal(nil, secure.AppendPayload(nil, onward, ret, []byte(body)))
	return sealed
}

// A tampered message is dropped and logged, and the channel goes on; a
// replayed one is refused.
func TestSecureChannelTamperAndReplay(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	enc := p.channel(t)
	c := channelAt(t, p.sc1, enc)
	rec := nodetest.NewRecorder()
	if err := p.n3.StartService("recorder", rec); err != nil {
		t.Fatal(err)
	}
	send := func(sealed []byte) {
		t.Helper()
		err := p.n1.Send(context.Background(), routing.Message{Onward: c.remoteRoute(), Return: routing.Route{}, Payload: sealed})
		if err != nil {
			t.Fatal(err)
		}
	}
	toRecorder := routing.Route{routing.LocalAddress("recorder")}
	tampered := sealTo(c, toRecorder, nil, "tampered")
	tampered[len(tampered)-1] ^= 1
	send(tampered)
	p.logs3.WaitLog(t, "secure channel message dropped")
	if got := nodetest.SendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "after"); got != "after" {
		t.Fatalf("channel broken after a tampered message: %q", got)
	}

	once := sealTo(c, toRecorder, nil, "once")
	send(once)
	if m := <-rec.C; string(m.Payload) != "once" {
		t.Fatalf("recorder got %q", m.Payload)
	}
	send(once)
	p.logs3.WaitLog(t, "replayed")
	if got := nodetest.SendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "still"); got != "still" {
		t.Fatalf("channel broken after a replay: %q", got)
	}
	select {
	case m := <-rec.C:
		t.Fatalf("the replayed message was delivered: %q", m.Payload)
	default:
	}
	if c3 := p.sc3.Counters(); c3.DecryptFailures != 2 || c3.Handshakes != 1 || c3.Open != 1 {
		t.Errorf("n3's counters after a tampered and a replayed message: %+v", c3)
	}
}

// Callers that open the same route at once share one handshake, and one
// channel.
func TestSecureChannelConcurrentOpens(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	const callers = 50
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	encs := make(chan routing.Address, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			enc, err := p.sc1.Open(ctx, p.toAPI)
			encs <- enc
			errs <- err
		})
	}
	wg.Wait()
	close(encs)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	first := <-encs
	for enc := range encs {
		if enc != first {
			t.Fatalf("two channels for one route: %s and %s", first, enc)
		}
	}
	if cs := p.sc1.List(); len(cs) != 1 {
		t.Fatalf("%d channels for one route, want 1: %+v", len(cs), cs)
	}
}

// 10,000 messages cross the rekey boundary (every 32) both ways.
func TestSecureChannelManyMessages(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	enc := p.channel(t)
	route := routing.Route{enc, routing.LocalAddress("echo")}
	const n, window = 10000, 16
	var wg sync.WaitGroup
	errs := make(chan error, window)
	for w := range window {
		wg.Go(func() {
			for i := w; i < n; i += window {
				want := strings.Repeat("x", i%300) + string(rune('a'+i%26))
				got, err := nodetest.TrySend(p.n1, route, want, 10*time.Second)
				if err == nil && got != want {
					err = fmt.Errorf("message %d: got %q", i, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := channelAt(t, p.sc1, enc)
	c.encMu.Lock()
	sent := c.enc.Nonce()
	c.encMu.Unlock()
	if sent < n {
		t.Fatalf("only %d messages went through the channel", sent)
	}
	c1, c3 := p.sc1.Counters(), p.sc3.Counters()
	if c1.MessagesOut < n || c1.MessagesIn < n || c3.MessagesIn < n || c3.MessagesOut < n {
		t.Errorf("messages counted: n1 %+v, n3 %+v", c1, c3)
	}
	if c1.Rekeys < n/secure.RekeyInterval-1 || c1.Handshakes != 1 || c1.Open != 1 || c1.DecryptFailures != 0 {
		t.Errorf("n1's counters after %d messages: %+v", n, c1)
	}
}

// A Close from either side ends the channel on both.
func TestSecureChannelClose(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	enc := p.channel(t)
	if err := p.sc1.CloseChannel(enc.Value); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "n3 to close its side", func() bool { return len(p.sc3.List()) == 0 })
	if len(p.sc1.List()) != 0 || p.n1.HasWorker(enc.Value) {
		t.Fatal("n1 keeps its side")
	}
	enc2 := p.channel(t)
	if enc2 == enc {
		t.Fatal("a closed channel was reused")
	}
	nodetest.WaitFor(t, "n3's side of the new channel", func() bool { return len(p.sc3.List()) == 1 })
	if err := p.sc3.CloseChannel(p.sc3.List()[0].Encryptor); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "n1 to close its side", func() bool { return len(p.sc1.List()) == 0 })
	p.logs1.WaitLog(t, "the other side closed it")
}

// When the relay node restarts mid-channel, the next open of the route
// makes a new channel, with a new handshake; n1 is not restarted.
func TestSecureChannelRelayRestart(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	sc3 := New(n3, fastKeepAlive)
	if err := sc3.Listen("api", ListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	startRelay(t, n3, addr)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	sc1 := New(n1, fastKeepAlive)
	toAPI := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
	open := func() (routing.Address, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return sc1.Open(ctx, toAPI)
	}
	enc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if got := nodetest.SendString(t, n1, routing.Route{enc, routing.LocalAddress("echo")}, "before"); got != "before" {
		t.Fatal(got)
	}
	n2.Close()
	n2b, _ := nodetest.Node(t, "n2", runtime.Options{})
	if _, err := tcp.Listen(n2b, addr); err != nil {
		t.Fatal(err)
	}
	// n3's relay client registers again at the new relay node.
	deadline := time.Now().Add(10 * time.Second)
	for {
		enc2, err := open()
		if err == nil {
			got, err2 := nodetest.TrySend(n1, routing.Route{enc2, routing.LocalAddress("echo")}, "after", time.Second)
			if err2 == nil && got == "after" {
				if enc2 == enc {
					t.Fatal("the old channel answered after the relay node restarted")
				}
				break
			}
			err = err2
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new channel after the relay restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a route that comes back
	}
	nodetest.WaitFor(t, "n3 to forget the old channel", func() bool { return len(sc3.List()) == 1 })
}

// When the relay registers again (its connection to n2 dropped, n2 and
// n1's connection to it stayed), the channel carries on: the initiator
// sends along the route to the listener, and the responder learns its new
// way back. No new handshake.
func TestSecureChannelRelayReconnect(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	enc := p.channel(t)
	if got := nodetest.SendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "before"); got != "before" {
		t.Fatal(got)
	}
	old := p.n2.Forwarders()["forward_to_n3"]
	for _, c := range p.n2.Transports().Connections() {
		if c.Address().Value == old {
			c.Close()
		}
	}
	// Generous deadlines: the whole suite may be running beside this test.
	deadline := time.Now().Add(15 * time.Second)
	// n3's relay client hears its connection close and registers again,
	// over a new connection.
	for {
		if now, ok := p.n2.Forwarders()["forward_to_n3"]; ok && now != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not register again: %+v", p.relay.Status())
		}
		time.Sleep(5 * time.Millisecond) // polling for the registration
	}
	for {
		got, err := nodetest.TrySend(p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "after", 500*time.Millisecond)
		if err == nil && got == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the channel does not carry messages after the relay registered again: %v", err)
		}
	}
	if again := p.channel(t); again != enc {
		t.Fatal("a new channel was made")
	}
}

// When the responder's node restarts, the initiator's keepalive finds the
// channel dead, and the next open makes a new one.
func TestSecureChannelResponderRestart(t *testing.T) {
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	addr := nodetest.Listen(t, n3)
	sc3 := New(n3, fastKeepAlive)
	if err := sc3.Listen("api", ListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	n1, logs1 := nodetest.Node(t, "n1", runtime.Options{})
	sc1 := New(n1, fastKeepAlive)
	toAPI := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("api")}
	open := func() (routing.Address, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return sc1.Open(ctx, toAPI)
	}
	enc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	// Idle, the channel stays: keepalives hold it.
	time.Sleep(3 * fastKeepAlive.KeepAlive.DeadAfter / 2) // idle time is what is under test
	if again, err := open(); err != nil || again != enc {
		t.Fatalf("an idle channel was replaced: %v", err)
	}
	// The responder's side goes without a word (as when its node dies).
	for _, c := range sc3.all() {
		c.close(false, "test: gone without a word")
	}
	logs1.WaitLog(t, "no word from the other side")
	enc2, err := open()
	if err != nil || enc2 == enc {
		t.Fatalf("no new channel: %v", err)
	}
	if got := nodetest.SendString(t, n1, routing.Route{enc2, routing.LocalAddress("echo")}, "x"); got != "x" {
		t.Fatal(got)
	}
}

// A channel inside a channel: /secure/api/secure/inner opens the second
// over the first, and a message crosses both.
func TestSecureChannelNested(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	if err := p.sc3.Listen("inner", ListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := routing.ParseMultiAddr("/node/n2/service/forward_to_n3/secure/api/secure/inner/service/uppercase")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	route, err := m.RouteSecure(func(string, routing.TransportType) (routing.Address, error) {
		return routing.TCPAddress(p.tap.Addr), nil
	},
		func(to routing.Route) (routing.Address, error) { return p.sc1.Open(ctx, to) })
	if err != nil {
		t.Fatal(err)
	}
	if got := nodetest.SendString(t, p.n1, route, "nested"); got != "NESTED" {
		t.Fatal(got)
	}
	if n := len(p.sc1.List()); n != 2 {
		t.Fatalf("%d channels on n1, want 2", n)
	}
}
