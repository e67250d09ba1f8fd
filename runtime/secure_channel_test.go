package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// tap is a TCP proxy in front of a node's listener that keeps every byte
// that crosses it, both ways: what the node in the middle sees.
type tap struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer // guarded by mu
}

func newTap(t testing.TB, target string) *tap {
	tp := &tap{}
	tp.addr = serveTCP(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tp.copy(u, c)
			u.Close()
		}()
		tp.copy(c, u)
		c.Close()
		<-done
	})
	return tp
}

// copy copies from src to dst, keeping what passes.
func (tp *tap) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.seen.Write(buf[:n])
			tp.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (tp *tap) saw(s string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), []byte(s))
}

// securePath is n1 -> n2 <- n3 (relay), with a listener "api" on n3.
// Every connection to n2 crosses a tap.
type securePath struct {
	n1, n2, n3   *Node
	logs1, logs3 *logBuffer
	tap          *tap
	relay        Connection // n3's registration at n2
	// toAPI is the route from n1 to the listener.
	toAPI routing.Route
}

func newSecurePath(t testing.TB, opts SecureChannelListenerOptions) *securePath {
	return newSecurePathTapped(t, opts, true)
}

// newSecurePathTapped is newSecurePath, with the tap in front of n2 or
// not (a benchmark's gigabytes are not to be kept).
func newSecurePathTapped(t testing.TB, opts SecureChannelListenerOptions, tapped bool) *securePath {
	t.Helper()
	p := &securePath{}
	p.n2, _ = testNode(t, "n2", Options{})
	p.tap = &tap{addr: listen(t, p.n2)}
	if tapped {
		p.tap = newTap(t, p.tap.addr)
	}
	p.n3, p.logs3 = testNode(t, "n3", Options{})
	if err := p.n3.StartSecureChannelListener("api", opts); err != nil {
		t.Fatal(err)
	}
	p.relay = registerRelay(t, p.n3, "n3", p.tap.addr)
	p.n1, p.logs1 = testNode(t, "n1", Options{})
	p.toAPI = routing.Route{routing.TCPAddress(p.tap.addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
	return p
}

func (p *securePath) channel(t testing.TB) routing.Address {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	enc, err := p.n1.SecureChannel(ctx, p.toAPI)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// The relay node sees ciphertext only: a secret sent through the channel
// never crosses n2's connections in clear, and it does without the
// channel.
func TestSecureChannelRelaySeesCiphertext(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	enc := p.channel(t)
	const secret = "the-secret-through-the-channel"
	if got := sendString(t, p.n1, routing.Route{enc, routing.LocalAddress("uppercase")}, secret); got != strings.ToUpper(secret) {
		t.Fatalf("got %q", got)
	}
	if p.tap.saw(secret) || p.tap.saw(strings.ToUpper(secret)) {
		t.Fatal("the relay node's connections carried the plaintext")
	}
	// The same route without the channel carries it in clear.
	const plain = "the-secret-without-the-channel"
	sendString(t, p.n1, append(p.toAPI[:2:2], routing.LocalAddress("uppercase")), plain)
	if !p.tap.saw(plain) {
		t.Fatal("the tap did not see a plaintext message: it taps nothing")
	}
	// The channel is reused, and both sides list it with the peer's
	// identifier.
	if again := p.channel(t); again != enc {
		t.Fatalf("second open made a new channel %s, want %s", again, enc)
	}
	id1, _ := p.n1.Identifier()
	id3, _ := p.n3.Identifier()
	if cs := p.n1.SecureChannels(); len(cs) != 1 || cs[0].Peer != id3.String() || !cs[0].Initiator {
		t.Fatalf("n1 channels: %+v", cs)
	}
	if cs := p.n3.SecureChannels(); len(cs) != 1 || cs[0].Peer != id1.String() || cs[0].Route != "api" {
		t.Fatalf("n3 channels: %+v", cs)
	}
}

func TestSecureChannelUntrustedRefused(t *testing.T) {
	other, err := secure.NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := newSecurePath(t, SecureChannelListenerOptions{Trust: []secure.Identifier{other.Identifier}})
	// The initiator never reports a channel the listener has not
	// accepted: the listener's Close says it refused, at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = p.n1.SecureChannel(ctx, p.toAPI)
	id1, _ := p.n1.Identifier()
	if !errors.Is(err, ErrChannelRefused) || !strings.Contains(err.Error(), id1.String()) {
		t.Fatalf("SecureChannel of an untrusted initiator: %v, want ErrChannelRefused naming %s", err, id1)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the refusal took %s: it waited for the timeout", time.Since(start))
	}
	p.logs1.waitLog(t, "secure channel refused by the listener")
	if strings.Contains(p.logs1.String(), "secure channel established") {
		t.Errorf("n1 says a refused channel was established:\n%s", p.logs1)
	}
	p.logs3.waitLog(t, "identifier="+id1.String())
	if !strings.Contains(p.logs3.String(), "not trusted") {
		t.Fatalf("no refusal in n3's log:\n%s", p.logs3)
	}
	if cs := p.n3.SecureChannels(); len(cs) != 0 {
		t.Fatalf("n3 keeps a refused channel: %+v", cs)
	}
	if cs := p.n1.SecureChannels(); len(cs) != 0 {
		t.Fatalf("n1 keeps a refused channel: %+v", cs)
	}
}

func TestSecureChannelTrusted(t *testing.T) {
	id1, err := secure.NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := newSecurePath(t, SecureChannelListenerOptions{Trust: []secure.Identifier{id1.Identifier}})
	p.n1.Close()
	p.n1, p.logs1 = testNode(t, "n1", Options{Identity: id1})
	enc := p.channel(t)
	if got := sendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "hi"); got != "hi" {
		t.Fatal(got)
	}
}

// initiatorOf returns n1's side of the channel at enc.
func initiatorOf(t testing.TB, n *Node, enc routing.Address) *secureChannel {
	n.secure.mu.Lock()
	defer n.secure.mu.Unlock()
	c := n.secure.channels[enc.Value]
	if c == nil {
		t.Fatalf("no channel at %s", enc)
	}
	return c
}

// sealTo encrypts a Payload for onward with c's encryptor, as the
// encryptor worker does, and returns the encrypted message.
func sealTo(c *secureChannel, onward, ret routing.Route, body string) []byte {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	sealed, _ := c.enc.Seal(nil, secure.AppendPayload(nil, onward, ret, []byte(body)))
	return sealed
}

// A tampered message is dropped and logged, and the channel goes on; a
// replayed one is refused.
func TestSecureChannelTamperAndReplay(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	enc := p.channel(t)
	c := initiatorOf(t, p.n1, enc)
	rec := newRecorder()
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
	tampered := sealTo(c, local("recorder"), nil, "tampered")
	tampered[len(tampered)-1] ^= 1
	send(tampered)
	p.logs3.waitLog(t, "secure channel message dropped")
	if got := sendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "after"); got != "after" {
		t.Fatalf("channel broken after a tampered message: %q", got)
	}

	once := sealTo(c, local("recorder"), nil, "once")
	send(once)
	if m := <-rec.ch; string(m.Payload) != "once" {
		t.Fatalf("recorder got %q", m.Payload)
	}
	send(once)
	p.logs3.waitLog(t, "replayed")
	if got := sendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "still"); got != "still" {
		t.Fatalf("channel broken after a replay: %q", got)
	}
	select {
	case m := <-rec.ch:
		t.Fatalf("the replayed message was delivered: %q", m.Payload)
	default:
	}
}

// 10,000 messages cross the rekey boundary (every 32) both ways.
func TestSecureChannelManyMessages(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	enc := p.channel(t)
	route := routing.Route{enc, routing.LocalAddress("echo")}
	const n, window = 10000, 16
	var wg sync.WaitGroup
	errs := make(chan error, window)
	for w := range window {
		wg.Go(func() {
			for i := w; i < n; i += window {
				want := strings.Repeat("x", i%300) + string(rune('a'+i%26))
				got, err := trySend(p.n1, route, want, 10*time.Second)
				if err == nil && got != want {
					err = errorf("message %d: got %q", i, got)
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
	c := initiatorOf(t, p.n1, enc)
	c.encMu.Lock()
	sent := c.enc.Nonce()
	c.encMu.Unlock()
	if sent < n {
		t.Fatalf("only %d messages went through the channel", sent)
	}
}

// A Close from either side ends the channel on both.
func TestSecureChannelClose(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	enc := p.channel(t)
	if err := p.n1.CloseSecureChannel(enc.Value); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 to close its side", func() bool { return len(p.n3.SecureChannels()) == 0 })
	if len(p.n1.SecureChannels()) != 0 || p.n1.HasWorker(enc.Value) {
		t.Fatal("n1 keeps its side")
	}
	enc2 := p.channel(t)
	if enc2 == enc {
		t.Fatal("a closed channel was reused")
	}
	waitFor(t, "n3's side of the new channel", func() bool { return len(p.n3.SecureChannels()) == 1 })
	if err := p.n3.CloseSecureChannel(p.n3.SecureChannels()[0].Encryptor); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1 to close its side", func() bool { return len(p.n1.SecureChannels()) == 0 })
	p.logs1.waitLog(t, "the other side closed it")
}

// When the relay node restarts mid-channel, the next open of the route
// makes a new channel, with a new handshake; n1 is not restarted.
func TestSecureChannelRelayRestart(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	n3, _ := testNode(t, "n3", Options{SecureChannelKeepAlive: fastKeepAlive})
	if err := n3.StartSecureChannelListener("api", SecureChannelListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	registerRelay(t, n3, "n3", addr)
	n1, _ := testNode(t, "n1", Options{SecureChannelKeepAlive: fastKeepAlive})
	toAPI := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
	open := func() (routing.Address, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return n1.SecureChannel(ctx, toAPI)
	}
	enc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if got := sendString(t, n1, routing.Route{enc, routing.LocalAddress("echo")}, "before"); got != "before" {
		t.Fatal(got)
	}
	n2.Close()
	n2b, _ := testNode(t, "n2", Options{})
	if _, err := n2b.Listen(addr); err != nil {
		t.Fatal(err)
	}
	// n3 registers again at the new relay node, as its relay client would.
	registerRelay(t, n3, "n3", addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		enc2, err := open()
		if err == nil {
			got, err2 := trySend(n1, routing.Route{enc2, routing.LocalAddress("echo")}, "after", time.Second)
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
	waitFor(t, "n3 to forget the old channel", func() bool { return len(n3.SecureChannels()) == 1 })
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// secureInlet starts an inlet on p.n1 whose every stream goes through the
// channel to an outlet on n3 at target.
func (p *securePath) secureInlet(t testing.TB, target string) (*Inlet, *Outlet) {
	t.Helper()
	out, err := p.n3.StartOutlet("outlet", target, OutletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.n1.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		enc, err := p.n1.SecureChannel(ctx, p.toAPI)
		return routing.Route{enc, routing.LocalAddress("outlet")}, err
	}, InletOptions{PingTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return in, out
}

// 200 concurrent streams through a secure portal over the relay stay
// intact, and the relay node sees none of their bytes in clear.
func TestSecurePortalConcurrentStreams(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	in, out := p.secureInlet(t, serveTCP(t, echoServer))
	const streams, size = 200, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() { errs <- roundTripStream(in.Addr(), size) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "streams to close", func() bool { return in.Streams() == 0 && out.Streams() == 0 })
	if n := len(p.n1.SecureChannels()); n != 1 {
		t.Fatalf("%d channels for one route, want 1", n)
	}
}

// A known secret served through the secure portal never crosses n2 in
// clear.
func TestSecurePortalTap(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	const secret = "a-known-secret-served-by-the-target"
	target := serveTCP(t, func(c *net.TCPConn) {
		c.Write([]byte(strings.Repeat(secret, 1000)))
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	in, _ := p.secureInlet(t, target)
	fetch := func(addr string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || !strings.Contains(string(got), secret) {
			t.Fatalf("read %d bytes: %v", len(got), err)
		}
	}
	fetch(in.Addr())
	if p.tap.saw(secret) {
		t.Fatal("the relay node's connections carried the secret in clear")
	}
	// The same portal without /secure: the tap finds the secret.
	plain := append(p.toAPI[:2:2], routing.LocalAddress("outlet"))
	pin, err := p.n1.StartInlet("plain", "127.0.0.1:0", func() (routing.Route, error) { return plain, nil }, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fetch(pin.Addr())
	if !p.tap.saw(secret) {
		t.Fatal("the tap did not find the secret of a plain portal: it taps nothing")
	}
}

// fastKeepAlive makes a dead channel end within the tests' waits.
var fastKeepAlive = KeepAlive{Every: 200 * time.Millisecond, DeadAfter: 2 * time.Second}

// When the relay registers again (its connection to n2 dropped, n2 and
// n1's connection to it stayed), the channel carries on: the initiator
// sends along the route to the listener, and the responder learns its new
// way back. No new handshake.
func TestSecureChannelRelayReconnect(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	enc := p.channel(t)
	if got := sendString(t, p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "before"); got != "before" {
		t.Fatal(got)
	}
	old := p.n2.Forwarders()["forward_to_n3"]
	for _, c := range p.n2.Connections() {
		if c.Address().Value == old {
			c.Close()
		}
	}
	// Generous deadlines: the whole suite may be running beside this test.
	deadline := time.Now().Add(15 * time.Second)
	// n3 hears its connection close and registers again, as its relay
	// client would, over a new connection.
	select {
	case <-p.relay.Done():
	case <-time.After(time.Until(deadline)):
		t.Fatal("n3 did not hear its relay connection close")
	}
	p.relay = registerRelay(t, p.n3, "n3", p.tap.addr)
	for {
		if now, ok := p.n2.Forwarders()["forward_to_n3"]; ok && now != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay did not register again")
		}
		time.Sleep(5 * time.Millisecond) // polling for the registration
	}
	for {
		got, err := trySend(p.n1, routing.Route{enc, routing.LocalAddress("echo")}, "after", 500*time.Millisecond)
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
	n3, _ := testNode(t, "n3", Options{SecureChannelKeepAlive: fastKeepAlive})
	addr := listen(t, n3)
	if err := n3.StartSecureChannelListener("api", SecureChannelListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	n1, logs1 := testNode(t, "n1", Options{SecureChannelKeepAlive: fastKeepAlive})
	toAPI := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("api")}
	open := func() (routing.Address, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return n1.SecureChannel(ctx, toAPI)
	}
	enc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	// Idle, the channel stays: keepalives hold it.
	time.Sleep(3 * fastKeepAlive.DeadAfter / 2) // idle time is what is under test
	if again, err := open(); err != nil || again != enc {
		t.Fatalf("an idle channel was replaced: %v", err)
	}
	// The responder's side goes without a word (as when its node dies).
	n3.secure.mu.Lock()
	var resp *secureChannel
	for _, c := range n3.secure.channels {
		resp = c
	}
	n3.secure.mu.Unlock()
	resp.close(false, "test: gone without a word")
	logs1.waitLog(t, "no word from the other side")
	enc2, err := open()
	if err != nil || enc2 == enc {
		t.Fatalf("no new channel: %v", err)
	}
	if got := sendString(t, n1, routing.Route{enc2, routing.LocalAddress("echo")}, "x"); got != "x" {
		t.Fatal(got)
	}
}

// A channel inside a channel: /secure/api/secure/inner opens the second
// over the first, and a message crosses both.
func TestSecureChannelNested(t *testing.T) {
	p := newSecurePath(t, SecureChannelListenerOptions{})
	if err := p.n3.StartSecureChannelListener("inner", SecureChannelListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := routing.ParseMultiAddr("/node/n2/service/forward_to_n3/secure/api/secure/inner/service/uppercase")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	route, err := m.RouteSecure(func(string, routing.TransportType) (routing.Address, error) {
		return routing.TCPAddress(p.tap.addr), nil
	},
		func(to routing.Route) (routing.Address, error) { return p.n1.SecureChannel(ctx, to) })
	if err != nil {
		t.Fatal(err)
	}
	if got := sendString(t, p.n1, route, "nested"); got != "NESTED" {
		t.Fatal(got)
	}
	if n := len(p.n1.SecureChannels()); n != 2 {
		t.Fatalf("%d channels on n1, want 2", n)
	}
}
