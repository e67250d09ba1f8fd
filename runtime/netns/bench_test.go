//go:build linux

package netns

import (
	"net"
	"testing"
)

// What making a socket inside a namespace costs over making it in place:
// Do moves a locked thread there and back for each call.

// BenchmarkDo is one empty Do: the cost added to every socket a node in a
// namespace makes (a listen, a dial).
func BenchmarkDo(b *testing.B) {
	if err := CheckPrivilege(); err != nil {
		b.Skip(err)
	}
	ns, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	for b.Loop() {
		if err := ns.Do(func() error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDial dials a listener on loopback, in the host's namespace and
// inside a namespace, and closes the connection.
func BenchmarkDial(b *testing.B) {
	if err := CheckPrivilege(); err != nil {
		b.Skip(err)
	}
	ns, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	if err := ns.Prepare(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func(func() error) error
	}{
		{"host", func(f func() error) error { return f() }},
		{"namespace", ns.Do},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ln net.Listener
			if err := tc.do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			for b.Loop() {
				if err := tc.do(func() error {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err == nil {
						c.Close()
					}
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNamespace makes a namespace with its loopback up and lets it go.
func BenchmarkNamespace(b *testing.B) {
	if err := CheckPrivilege(); err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		ns, err := New()
		if err != nil {
			b.Fatal(err)
		}
		if err := ns.Prepare(); err != nil {
			b.Fatal(err)
		}
		ns.Close()
	}
}
