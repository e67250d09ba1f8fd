package deploy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// engineSockets stands for a container engine in one process: every node
// binds on loopback what it would bind on all its container's interfaces,
// and a node's name resolves to loopback, as the engine's DNS resolves it
// to the node's container.
type engineSockets struct {
	nodes map[string]bool
}

func (e engineSockets) rewrite(address string) string {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return address
	}
	if host == "0.0.0.0" || e.nodes[host] {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return address
}

func (e engineSockets) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return runtime.HostSockets{}.Listen(ctx, network, e.rewrite(address))
}

func (e engineSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return runtime.HostSockets{}.Dial(ctx, network, e.rewrite(address))
}

func (e engineSockets) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return runtime.HostSockets{}.ListenPacket(ctx, network, e.rewrite(address))
}

// A topology planned for an engine runs as the engine would run it: the
// relay dials n2 by its name, and so does a check, over TCP and UDP.
func TestEngineStart(t *testing.T) {
	port, udpPort := fixedPort(t), fixedPort(t)
	src := `
node "n2" {
  tcp_listener = "127.0.0.1:` + port + `"
}
node "n3" {
  udp_listener = "127.0.0.1:` + udpPort + `"
  relay "n3" { at = node.n2 }
}
node "n1" {}
check "through the relay" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
check "over udp" {
  from   = node.n1
  to     = "/node/n3/udp/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
`
	topo, _, diags := topology.Load("engine.hcl", []byte(src), schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	nodes := map[string]bool{"n1": true, "n2": true, "n3": true}
	opts := StartOptions{Logger: hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Warn})}
	opts.Node.Sockets = engineSockets{nodes: nodes}
	run, err := Start(context.Background(), topo, nodes, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	for _, r := range run.RunChecks(context.Background()) {
		if !r.OK {
			t.Errorf("check %q: %s", r.Name, r.Error)
		}
	}
	if !run.mayDial("n2:"+port) || run.mayDial("n2:1") || run.mayDial("elsewhere:"+port) {
		t.Error("a node may dial for the network what is not a node's listener, or may not dial one")
	}
}

// A node whose identity file is public (no secret key: another node's, to
// trust) is planned, and refused when it would run here.
func TestPublicIdentityDoesNotRun(t *testing.T) {
	dir := t.TempDir()
	id, err := secure.NewIdentity(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "n1.identity")
	if err := os.WriteFile(path, id.Public().MarshalFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
node "n1" { identity = "n1.identity" }
node "n2" {
  secure_channel_listener "api" { trust = [node.n1] }
}
`
	topo, _, diags := topology.Load(filepath.Join(dir, "t.hcl"), []byte(src), schema.Overrides{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := topo.Node("n1").Identifier; got != id.Identifier.String() {
		t.Fatalf("identifier %s, want %s", got, id.Identifier)
	}
	run, err := Start(context.Background(), topo, map[string]bool{"n2": true}, StartOptions{})
	if err != nil {
		t.Fatalf("n2, which trusts n1's public identity: %v", err)
	}
	run.Stop()
	if _, err := Start(context.Background(), topo, map[string]bool{"n1": true}, StartOptions{}); err == nil || !strings.Contains(err.Error(), "holds no secret key") {
		t.Fatalf("n1 run from its public identity: %v", err)
	}
}
