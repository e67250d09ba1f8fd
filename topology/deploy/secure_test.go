package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Two starts of one file on one host, as two processes with --node: the
// listener on n3 trusts node.n1 by reference, and n1, started by the other,
// has the identity kept for it in the shared IdentityDir. A start with
// another IdentityDir has another n1, which the listener refuses, naming
// its identifier.
func TestSecureTrustAcrossStarts(t *testing.T) {
	topo := load(t, fmt.Sprintf(`
node "n2" {
  tcp_listener = "127.0.0.1:%d"
}
node "n3" {
  relay "n3" {
    at = node.n2
  }
  secure_channel_listener "api" {
    trust = [node.n1]
  }
}
node "n1" {}
`, freePort(t)))
	dir := t.TempDir()
	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: logs})
	ctx := context.Background()
	a, err := Start(ctx, topo, map[string]bool{"n2": true, "n3": true}, StartOptions{IdentityDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b, err := Start(ctx, topo, map[string]bool{"n1": true}, StartOptions{IdentityDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	const route = "/node/n2/service/forward_to_n3/secure/api/service/uppercase"
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := b.Send(sctx, "n1", route, wire.EncodeString("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := wire.String(reply); s != "HI" {
		t.Fatalf("reply %q", s)
	}

	c, err := Start(ctx, topo, map[string]bool{"n1": true}, StartOptions{IdentityDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	other := c.Status().Nodes[0].Identifier
	sctx2, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	// Refused, and the initiator says so, naming its identifier: it
	// reports no channel the listener has not accepted.
	if _, err := c.Send(sctx2, "n1", route, wire.EncodeString("hi")); !errors.Is(err, securechannel.ErrRefused) || !strings.Contains(err.Error(), other) {
		t.Fatalf("send from an n1 with another identity: %v, want the channel refused, naming %s", err, other)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "identifier="+other); {
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not name the refused identifier %s:\n%s", other, logs)
		}
		time.Sleep(5 * time.Millisecond) // polling the log
	}
}
