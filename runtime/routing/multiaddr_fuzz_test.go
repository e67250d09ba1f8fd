package routing

import (
	"errors"
	"strings"
	"testing"
)

// FuzzMultiAddr feeds arbitrary text to ParseMultiAddr and ParseAddress.
// Neither may panic. An accepted MultiAddr renders with String to text that
// parses to the same segments (kind, name, protocol, port; not the offsets,
// as String drops a trailing slash and leading zeros of a port), and that
// text is a fixed point of String. An error is a *MultiAddrError whose
// offsets lie in the input. An accepted address renders to "type#value",
// which parses back to it.
func FuzzMultiAddr(f *testing.F) {
	for _, s := range []string{
		"",
		"/",
		"//",
		"echo",
		"/service/echo",
		"/service/echo/",
		"/service/echo//",
		"/node/n2/service/forward_to_n3/service/uppercase",
		"/worker/0123456789abcdef0123456789abcdef/service/echo",
		"/ip4/127.0.0.1/tcp/4000/service/echo",
		"/ip4/127.0.0.1/tcp/04000",
		"/ip4/127.0.0.1/tcp/0",
		"/ip4/127.0.0.1/tcp/65536",
		"/ip4/::1/tcp/1",
		"/ip6/::1/udp/53",
		"/node/n2/udp/node/n3/tcp/service/echo",
		"/ip6/fe80::1%eth0/tcp/22",
		"/ip6/::ffff:1.2.3.4/tcp/80",
		"/dnsaddr/localhost/tcp/4000/node/x",
		"/dnsaddr//tcp/4000",
		"/dnsaddr/h/sctp/1",
		"/ip4/1.2.3.4/tcp",
		"/service",
		"/service/",
		"/bogus/x",
		"0#echo",
		"1#127.0.0.1:4000",
		"255#a#b",
		"256#x",
		"1#",
		"#x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAddress(t, s)
		m, err := ParseMultiAddr(s)
		if err != nil {
			var me *MultiAddrError
			if !errors.As(err, &me) {
				t.Fatalf("ParseMultiAddr(%q): error %v (%T) is not a *MultiAddrError", s, err, err)
			}
			if me.Input != s || me.Start < 0 || me.Start > me.End || me.End > len(s) {
				t.Fatalf("ParseMultiAddr(%q): error %+v points outside the input", s, me)
			}
			_ = err.Error()
			if m != nil {
				t.Fatalf("ParseMultiAddr(%q) failed but returned %v", s, m)
			}
			return
		}
		if len(m) == 0 {
			t.Fatalf("ParseMultiAddr(%q) accepted an empty route", s)
		}
		prev := 0
		for i, seg := range m {
			if seg.Start < prev || seg.Start >= seg.End || seg.End > len(s) || s[seg.Start] != '/' {
				t.Fatalf("ParseMultiAddr(%q): segment %d %+v has bad offsets", s, i, seg)
			}
			prev = seg.End
			if seg.Name == "" || strings.Contains(seg.Name, "/") {
				t.Fatalf("ParseMultiAddr(%q): segment %d has name %q", s, i, seg.Name)
			}
			switch seg.Kind {
			case Node:
				if (seg.Proto != "" && seg.Proto != "tcp" && seg.Proto != "udp") || seg.Port != 0 {
					t.Fatalf("ParseMultiAddr(%q): segment %d %+v", s, i, seg)
				}
			case Service, Worker:
				if seg.Proto != "" || seg.Port != 0 {
					t.Fatalf("ParseMultiAddr(%q): segment %d %+v", s, i, seg)
				}
			case TCPSocket, UDPSocket:
				if seg.Port == 0 || (seg.Proto != "ip4" && seg.Proto != "ip6" && seg.Proto != "dnsaddr") {
					t.Fatalf("ParseMultiAddr(%q): segment %d %+v", s, i, seg)
				}
				_ = seg.HostPort()
			default:
				t.Fatalf("ParseMultiAddr(%q): segment %d of kind %v", s, i, seg.Kind)
			}
		}
		text := m.String()
		m2, err := ParseMultiAddr(text)
		if err != nil {
			t.Fatalf("ParseMultiAddr(%q) = %s, which does not parse: %v", s, text, err)
		}
		if len(m2) != len(m) {
			t.Fatalf("ParseMultiAddr(%q) = %s (%d segments), reparsed to %d", s, text, len(m), len(m2))
		}
		for i := range m {
			a, b := m[i], m2[i]
			if a.Kind != b.Kind || a.Name != b.Name || a.Proto != b.Proto || a.Port != b.Port {
				t.Fatalf("ParseMultiAddr(%q): segment %d %+v reparsed from %s as %+v", s, i, a, text, b)
			}
		}
		if again := m2.String(); again != text {
			t.Fatalf("String is not stable: %q then %q", text, again)
		}
		if _, err := m.Route(nil); err != nil {
			for _, seg := range m {
				if seg.Kind == Node {
					return // a node segment needs a resolver
				}
			}
			t.Fatalf("ParseMultiAddr(%q).Route(nil): %v", s, err)
		}
	})
}

func checkAddress(t *testing.T, s string) {
	a, err := ParseAddress(s)
	if err != nil {
		return
	}
	if !strings.Contains(s, "#") && a != LocalAddress(s) {
		t.Fatalf("ParseAddress(%q) = %v, want a local address", s, a)
	}
	text := a.String()
	b, err := ParseAddress(text)
	if err != nil || b != a {
		t.Fatalf("ParseAddress(%q) = %v; its text %q parses to %v, %v", s, a, text, b, err)
	}
}
