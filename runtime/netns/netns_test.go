//go:build linux

package netns

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// privileged skips a test where this process may not make namespaces
// (CI runs as root, so there it runs).
func privileged(t *testing.T) {
	t.Helper()
	if err := CheckPrivilege(); err != nil {
		t.Skipf("network namespaces: %v", err)
	}
}

// hostLinks lists the host namespace's interface names.
func hostLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

func listenIn(t *testing.T, ns *Namespace, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return ln
}

// reaches dials addr from ns (nil: the host's namespace) and reports
// whether it reached a listener that says hello: a connection that
// something else accepts (an egress proxy on the host's default route)
// does not count.
func reaches(ns *Namespace, addr string) (bool, error) {
	var got []byte
	dial := func() error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		got, err = io.ReadAll(io.LimitReader(c, int64(len(hello))))
		return err
	}
	var err error
	if ns == nil {
		err = dial()
	} else {
		err = ns.Do(dial)
	}
	return string(got) == hello, err
}

const hello = "hello from a"

// Three namespaces, two networks: a and b on one, c on the other. a's
// listener is reachable from b, from neither c nor the host; after Close
// the host's interfaces are what they were, and nothing holds the
// namespaces any more.
func TestSwitchNetworks(t *testing.T) {
	privileged(t)
	before := hostLinks(t)
	sw, err := NewSwitch()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"office", "factory"} {
		if err := sw.AddNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	nss := map[string]*Namespace{}
	plug := map[string]struct{ network, addr string }{
		"a": {"office", "198.18.0.1/24"},
		"b": {"office", "198.18.0.2/24"},
		"c": {"factory", "198.18.1.1/24"},
	}
	for name, p := range plug {
		ns, err := New()
		if err != nil {
			t.Fatal(err)
		}
		nss[name] = ns
		if err := ns.Prepare(); err != nil {
			t.Fatal(err)
		}
		if err := sw.Plug(ns, p.network, p.network, netip.MustParsePrefix(p.addr)); err != nil {
			t.Fatal(err)
		}
	}
	if got := hostLinks(t); !slices.Equal(got, before) {
		t.Errorf("host interfaces changed: %v, were %v", got, before)
	}

	ln := listenIn(t, nss["a"], "0.0.0.0:0")
	port := ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(hello))
			c.Close()
		}
	}()
	target := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), uint16(port)).String()
	if ok, err := reaches(nss["b"], target); !ok {
		t.Errorf("b on the same network: %v", err)
	}
	if ok, _ := reaches(nss["c"], target); ok {
		t.Errorf("c on another network reached %s", target)
	}
	if ok, _ := reaches(nil, target); ok {
		t.Errorf("the host reached %s", target)
	}
	// The loopback of a's namespace is up, and a's own.
	lo := listenIn(t, nss["a"], "127.0.0.1:0")
	loDone := make(chan struct{})
	go func() {
		defer close(loDone)
		for {
			c, err := lo.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(hello))
			c.Close()
		}
	}()
	if ok, err := reaches(nss["a"], lo.Addr().String()); !ok {
		t.Errorf("a's loopback: %v", err)
	}
	if ok, _ := reaches(nil, lo.Addr().String()); ok {
		t.Errorf("the host reached a's loopback %s", lo.Addr())
	}
	// Forwarding is off in the nodes' namespaces.
	var fwd []byte
	if err := nss["a"].Do(func() (err error) {
		fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}); err != nil || strings.TrimSpace(string(fwd)) != "0" {
		t.Errorf("ip_forward in a: %q, %v", fwd, err)
	}
	lo.Close()
	ln.Close()
	<-done
	<-loDone

	var inodes []uint64
	for _, ns := range nss {
		inodes = append(inodes, ns.Inode())
		ns.Close()
	}
	inodes = append(inodes, sw.Namespace().Inode())
	sw.Close()
	if got := hostLinks(t); !slices.Equal(got, before) {
		t.Errorf("host interfaces after close: %v, were %v", got, before)
	}
	if held := Held(inodes); len(held) > 0 {
		t.Errorf("namespaces still held after close: %v", held)
	}
}

func TestDoOnClosed(t *testing.T) {
	privileged(t)
	ns, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if ns.Path() == "" {
		t.Error("no path while open")
	}
	ns.Close()
	if err := ns.Do(func() error { return nil }); err != ErrClosed {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
	if ns.Path() != "" {
		t.Error("a path after Close")
	}
	_ = context.Background()
}
