package deploy

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// up, when set, says whether a node's container runs: its name
	// resolves only then, as an engine's DNS answers.
	up func(node string) bool
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

// resolve is the engine's DNS: a node's name once its container runs.
func (e engineSockets) resolve(address string) (string, error) {
	if host, _, err := net.SplitHostPort(address); err == nil && e.nodes[host] && e.up != nil && !e.up(host) {
		return "", &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return e.rewrite(address), nil
}

func (e engineSockets) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return runtime.HostSockets{}.Listen(ctx, network, e.rewrite(address))
}

func (e engineSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	a, err := e.resolve(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return runtime.HostSockets{}.Dial(ctx, network, a)
}

func (e engineSockets) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return runtime.HostSockets{}.ListenPacket(ctx, network, e.rewrite(address))
}

// loadEngine plans src for a container engine.
func loadEngine(t *testing.T, src string) *topology.Topology {
	t.Helper()
	topo, _, diags := topology.Load("engine.hcl", []byte(src), schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return topo
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
	topo := loadEngine(t, src)
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

// On an engine every container starts at once, in any order: a check of
// n1 whose relay node and relay come up after it waits for them, within
// its timeout, while their names do not resolve yet.
func TestEngineNodesStartInAnyOrder(t *testing.T) {
	port := fixedPort(t)
	src := `
node "n2" {
  tcp_listener = "127.0.0.1:` + port + `"
}
node "n3" {
  relay "n3" { at = node.n2 }
}
node "n1" {}
check "through the relay" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
`
	topo := loadEngine(t, src)
	var mu sync.Mutex
	up := map[string]bool{}
	sockets := engineSockets{nodes: map[string]bool{"n1": true, "n2": true, "n3": true}, up: func(n string) bool {
		mu.Lock()
		defer mu.Unlock()
		return up[n]
	}}
	start := func(nodes ...string) *Running {
		local := map[string]bool{}
		mu.Lock()
		for _, n := range nodes {
			local[n], up[n] = true, true
		}
		mu.Unlock()
		opts := StartOptions{Logger: hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Warn})}
		opts.Node.Sockets = sockets
		run, err := Start(context.Background(), topo, local, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { run.Stop() })
		return run
	}
	n1 := start("n1")
	results := make(chan []CheckResult, 1)
	go func() { results <- n1.RunChecks(context.Background()) }()
	time.Sleep(300 * time.Millisecond) // the other containers start later: what is tested
	start("n2")
	start("n3")
	for _, r := range <-results {
		if !r.OK {
			t.Errorf("check %q: %s", r.Name, r.Error)
		}
	}
}

// On an engine the networks are the engine's: a node on one starts with
// no namespace of ours, and so without the privilege to make one.
func TestEngineNetworksNeedNoNamespace(t *testing.T) {
	topo := loadEngine(t, `
network "office" {}
node "n1" { networks = [network.office] }
`)
	run, err := Start(context.Background(), topo, map[string]bool{"n1": true}, StartOptions{
		CheckPrivilege: func() error { return errors.New("no privilege here") },
	})
	if err != nil {
		t.Fatal(err)
	}
	run.Stop()
}
