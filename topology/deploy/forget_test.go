package deploy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// The tests of this file hold every layer to the language: for each block
// and each attribute of the schema (schema.BlockTypes), a change in a file
// yields a plan that is not empty against the running topology, and
// Reconcile then runs the new value, or refuses the change with a reason.
// A kind of part that the planner forgets to compare, or deploy to run,
// fails here.

// forgetBase has a part of every kind a running topology can change. Its
// placeholders are filled by forgetFile.
const forgetBase = `
node "n2" {
  tcp_listener = "127.0.0.1:0"
  tcp_listeners = ["127.0.0.3:0"]
}

node "n4" {
  udp_listener = "127.0.0.1:0"
}

node "n3" {
  identity = "ID_A"
  allow    = ["extra"]
  service "h" {
    type = "echo"
  }
  secure_channel_listener "api" {
    trust = [node.n2]
  }
  relay "n3" {
    at = node.n2
  }
  relay "r2" {
    at = node.n2
  }
  tcp_outlet "out" {
    to = "127.0.0.1:TARGET_A"
  }
  tcp_outlet "out2" {
    to = "127.0.0.1:TARGET_A"
  }
  udp_outlet "dns" {
    to = "127.0.0.1:TARGET_A"
  }
  udp_outlet "dns2" {
    to = "127.0.0.1:TARGET_A"
  }
  exec "srv" {
    command  = ["BIN", "serve", "127.0.0.1:SERVE_A", "127.0.0.1:SERVE_B"]
    wait_for = "127.0.0.1:SERVE_A"
    timeout  = "10s"
  }
}

node "n1" {
  tcp_listener = "127.0.0.1:0"
  tcp_inlet "web" {
    from        = "127.0.0.1:0"
    to          = "/node/n2/service/forward_to_n3/service/out"
    max_streams = 10
  }
  udp_inlet "dns" {
    from         = "127.0.0.1:0"
    to           = "/node/n2/service/forward_to_n3/service/dns"
    max_flows    = 10
    idle_timeout = "1m"
  }
}

check "echo" {
  from    = node.n1
  to      = "/node/n2/service/forward_to_n3/service/h"
  send    = "hi"
  expect  = "hi"
  timeout = "5s"
}
`

// forgetNetworks has networks: a running topology refuses any change of
// it. Node far, on the network, runs elsewhere, so the test makes no
// namespace.
const forgetNetworks = `
network "lan" {
  subnet = "198.18.7.0/24"
}
network "lan2" {}

node "here" {}

node "far" {
  networks = [network.lan]
}
`

// mutation is a change of one attribute or block of a file.
type mutation struct {
	// block and attr name what changes, attr "" for the block itself
	// (one added or removed).
	block, attr string
	// from, to: the text replaced and its replacement; to is appended
	// to the file when from is "".
	from, to string
	// networks: the change is made to forgetNetworks, and refused.
	networks bool
	// verify checks that the running topology took the new value.
	verify func(t *testing.T, f *forgetFixture, d *topology.Diff)
}

var mutations = []mutation{
	{block: "node", attr: "", from: "", to: "node \"n9\" {}\n", verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.run.Node("n9") == nil {
			t.Error("node n9 does not run")
		}
	}},
	{block: "node", attr: "tcp_listener", from: `node "n2" {
  tcp_listener = "127.0.0.1:0"`, to: `node "n2" {
  tcp_listener = "127.0.0.2:0"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if l := f.run.Listeners()["n2"]; !strings.HasPrefix(l, "127.0.0.2:") {
			t.Errorf("n2 listens on %q", l)
		}
		f.send(t, "/node/n2/service/forward_to_n3/service/h", "hi", "hi") // the relay followed
	}},
	{block: "node", attr: "tcp_listeners", from: `tcp_listeners = ["127.0.0.3:0"]`, to: `tcp_listeners = ["127.0.0.3:0", "127.0.0.4:0"]`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		ls := f.run.TCPListenersOf("n2")
		if len(ls) != 2 || !strings.HasPrefix(ls[0], "127.0.0.3:") || !strings.HasPrefix(ls[1], "127.0.0.4:") {
			t.Fatalf("n2's other listeners: %v", ls)
		}
		host, port, _ := net.SplitHostPort(ls[1])
		f.send(t, "/ip4/"+host+"/tcp/"+port+"/service/uppercase", "hi", "HI") // through the new one
	}},
	{block: "node", attr: "udp_listener", from: `udp_listener = "127.0.0.1:0"`, to: `udp_listener = "127.0.0.2:0"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if l := f.run.UDPListeners()["n4"]; !strings.HasPrefix(l, "127.0.0.2:") {
			t.Errorf("n4 listens for UDP on %q", l)
		}
	}},
	{block: "node", attr: "allow", from: `["extra"]`, to: `["extra", "more"]`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.node(t, "n3").Allow; !slices.Equal(got, []string{"extra", "more"}) {
			t.Errorf("n3 allows %v", got)
		}
	}},
	{block: "node", attr: "identity", from: `identity = "ID_A"`, to: `identity = "ID_B"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.node(t, "n3").Identifier; got != f.idB {
			t.Errorf("n3's identifier is %s, want %s", got, f.idB)
		}
		f.send(t, "/node/n2/service/forward_to_n3/service/h", "hi", "hi") // its parts came back
	}},
	{block: "node", attr: "networks", networks: true, from: `networks = [network.lan]`, to: `networks = [network.lan2]`},
	{block: "service", attr: "", from: "", to: "node \"n3\" {\n", verify: nil}, // replaced below: a block inside n3
	{block: "service", attr: "type", from: `type = "echo"`, to: `type = "uppercase"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.send(t, "/node/n2/service/forward_to_n3/service/h", "hi", "HI")
	}},
	{block: "secure_channel_listener", attr: "", from: `secure_channel_listener "api" {`, to: `secure_channel_listener "api2" {}
  secure_channel_listener "api" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.send(t, "/node/n2/service/forward_to_n3/secure/api2/service/echo", "hi", "hi")
	}},
	{block: "secure_channel_listener", attr: "trust", from: `trust = [node.n2]`, to: `trust = [node.n1]`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		// n1 may open a channel now; before, it was not trusted.
		f.send(t, "/node/n2/service/forward_to_n3/secure/api/service/echo", "hi", "hi")
	}},
	{block: "relay", attr: "", from: `relay "r2" {`, to: `relay "r3" {
    at = node.n1
  }
  relay "r2" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.send(t, "/node/n1/service/forward_to_r3/service/h", "hi", "hi")
	}},
	{block: "relay", attr: "at", from: `relay "r2" {
    at = node.n2`, to: `relay "r2" {
    at = node.n1`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.send(t, "/node/n1/service/forward_to_r2/service/h", "hi", "hi")
	}},
	{block: "tcp_outlet", attr: "", from: `tcp_outlet "out2" {`, to: `tcp_outlet "out3" {
    to = "127.0.0.1:TARGET_B"
  }
  tcp_outlet "out2" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.outlet(t, "out3") != "127.0.0.1:"+f.targetB {
			t.Error("outlet out3 does not run")
		}
	}},
	{block: "tcp_outlet", attr: "to", from: `tcp_outlet "out" {
    to = "127.0.0.1:TARGET_A"`, to: `tcp_outlet "out" {
    to = "127.0.0.1:TARGET_B"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.outlet(t, "out"); got != "127.0.0.1:"+f.targetB {
			t.Errorf("outlet out sends to %q", got)
		}
	}},
	{block: "tcp_inlet", attr: "", from: `tcp_inlet "web" {`, to: `tcp_inlet "api" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/out2"
  }
  tcp_inlet "web" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.run.Inlets()["n1.api"] == "" {
			t.Error("inlet api does not run")
		}
	}},
	{block: "tcp_inlet", attr: "from", from: `from        = "127.0.0.1:0"`, to: `from        = "127.0.0.2:0"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if a := f.run.Inlets()["n1.web"]; !strings.HasPrefix(a, "127.0.0.2:") {
			t.Errorf("inlet web listens on %q", a)
		}
	}},
	{block: "tcp_inlet", attr: "to", from: `service/out"`, to: `service/out2"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.inlet(t, "web").Route; got != "/node/n2/service/forward_to_n3/service/out2" {
			t.Errorf("inlet web goes to %q", got)
		}
	}},
	{block: "tcp_inlet", attr: "max_streams", from: `max_streams = 10`, to: `max_streams = 20`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.inlet(t, "web").MaxStreams; got != 20 {
			t.Errorf("inlet web holds %d streams", got)
		}
	}},
	{block: "udp_outlet", attr: "", from: `udp_outlet "dns2" {`, to: `udp_outlet "dns3" {
    to = "127.0.0.1:TARGET_B"
  }
  udp_outlet "dns2" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.udpOutlet(t, "dns3") != "127.0.0.1:"+f.targetB {
			t.Error("udp_outlet dns3 does not run")
		}
	}},
	{block: "udp_outlet", attr: "to", from: `udp_outlet "dns" {
    to = "127.0.0.1:TARGET_A"`, to: `udp_outlet "dns" {
    to = "127.0.0.1:TARGET_B"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.udpOutlet(t, "dns"); got != "127.0.0.1:"+f.targetB {
			t.Errorf("udp_outlet dns sends to %q", got)
		}
	}},
	{block: "udp_inlet", attr: "", from: `udp_inlet "dns" {`, to: `udp_inlet "dns2" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/dns2"
  }
  udp_inlet "dns" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.run.UDPInlets()["n1.dns2"] == "" {
			t.Error("udp_inlet dns2 does not run")
		}
	}},
	{block: "udp_inlet", attr: "from", from: `from         = "127.0.0.1:0"`, to: `from         = "127.0.0.2:0"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if a := f.run.UDPInlets()["n1.dns"]; !strings.HasPrefix(a, "127.0.0.2:") {
			t.Errorf("udp_inlet dns listens on %q", a)
		}
	}},
	{block: "udp_inlet", attr: "to", from: `service/dns"`, to: `service/dns2"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.udpInlet(t, "dns").Route; got != "/node/n2/service/forward_to_n3/service/dns2" {
			t.Errorf("udp_inlet dns goes to %q", got)
		}
	}},
	{block: "udp_inlet", attr: "max_flows", from: `max_flows    = 10`, to: `max_flows    = 20`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.udpInlet(t, "dns").MaxFlows; got != 20 {
			t.Errorf("udp_inlet dns holds %d flows", got)
		}
	}},
	{block: "udp_inlet", attr: "idle_timeout", from: `idle_timeout = "1m"`, to: `idle_timeout = "2m"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if got := f.udpInlet(t, "dns").IdleTimeout; got != "2m0s" {
			t.Errorf("udp_inlet dns has the idle timeout %s", got)
		}
	}},
	{block: "exec", attr: "", from: `exec "srv" {`, to: `exec "more" {
    command = ["BIN", "serve", "127.0.0.1:SERVE_C"]
  }
  exec "srv" {`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		if f.run.Execs()["n3.more"] == 0 {
			t.Error("exec more does not run")
		}
	}},
	{block: "exec", attr: "command", from: `"127.0.0.1:SERVE_B"]`, to: `"127.0.0.1:SERVE_B", "127.0.0.1:SERVE_C"]`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.execReplaced(t)
		if got := f.node(t, "n3").Execs[0].Command; !slices.Contains(got, "127.0.0.1:"+f.serveC) {
			t.Errorf("exec srv runs %v", got)
		}
	}},
	{block: "exec", attr: "wait_for", from: `wait_for = "127.0.0.1:SERVE_A"`, to: `wait_for = "127.0.0.1:SERVE_B"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.execReplaced(t)
	}},
	{block: "exec", attr: "timeout", from: `timeout  = "10s"`, to: `timeout  = "20s"`, verify: func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
		f.execReplaced(t)
	}},
	{block: "check", attr: "", from: "", to: `check "more" {
  from = node.n1
  to   = "/node/n2/service/uppercase"
  send = "x"
}
`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) { f.check(t, d, "more", true) }},
	{block: "check", attr: "from", from: `from    = node.n1`, to: `from    = node.n3`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) {
		f.check(t, d, "echo", true)
	}},
	{block: "check", attr: "to", from: `service/h"`, to: `service/uppercase"`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) {
		f.check(t, d, "echo", false) // HI is not hi
	}},
	{block: "check", attr: "send", from: `send    = "hi"`, to: `send    = "ho"`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) {
		f.check(t, d, "echo", false)
	}},
	{block: "check", attr: "expect", from: `expect  = "hi"`, to: `expect  = "ho"`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) {
		f.check(t, d, "echo", false)
	}},
	{block: "check", attr: "timeout", from: `timeout = "5s"`, to: `timeout = "4s"`, verify: func(t *testing.T, f *forgetFixture, d *topology.Diff) {
		f.check(t, d, "echo", true)
	}},
	{block: "network", attr: "", networks: true, from: "", to: "network \"lan3\" {}\n"},
	{block: "network", attr: "subnet", networks: true, from: `198.18.7.0/24`, to: `198.18.8.0/24`},
}

func init() {
	// A service block, added inside n3.
	for i, m := range mutations {
		if m.block == "service" && m.attr == "" {
			mutations[i].from, mutations[i].to = `service "h" {`, `service "h2" {
    type = "uppercase"
  }
  service "h" {`
			mutations[i].verify = func(t *testing.T, f *forgetFixture, _ *topology.Diff) {
				f.send(t, "/node/n2/service/forward_to_n3/service/h2", "hi", "HI")
			}
		}
	}
}

// Every attribute and block of the language has a mutation above, but
// variables, which are not parts: their values are seen through the
// attributes that use them.
func TestMutationsCoverTheSchema(t *testing.T) {
	have := map[string]bool{}
	for _, m := range mutations {
		have[m.block+"."+m.attr] = true
	}
	for _, bt := range schema.BlockTypes() {
		if bt.Name == schema.BlockVariable {
			continue
		}
		if !have[bt.Name+"."] {
			t.Errorf("no mutation adds or removes a %s block", bt.Name)
		}
		for _, a := range bt.Body.Attributes {
			if !have[bt.Name+"."+a.Name] {
				t.Errorf("no mutation changes the attribute %q of a %s block", a.Name, bt.Name)
			}
		}
	}
}

// Every kind of part a node has is run by a unit, which takes in place
// what the kind says it does.
func TestEveryKindHasAUnit(t *testing.T) {
	for _, k := range topology.Kinds {
		if !k.OfNode() || k.Name == topology.PartNode {
			continue
		}
		u, ok := units[k.Name]
		if !ok {
			t.Errorf("no unit runs a %s", k.Name)
			continue
		}
		if (len(k.InPlace) > 0) != (u.change != nil) {
			t.Errorf("%s: takes %v in place, but its unit's change is set: %v", k.Name, k.InPlace, u.change != nil)
		}
	}
}

// Every kind of part a node has shows in the status of the running
// topology, with its state (and so in the metrics, which read the same).
func TestEveryKindHasAStatus(t *testing.T) {
	f := startForget(t, forgetBase, true)
	shown := map[string]string{}
	for _, n := range f.run.Status().Nodes {
		for _, p := range n.Parts {
			shown[p.Kind] = p.State
		}
	}
	for kind := range units {
		if state := shown[string(kind)]; state != stateUp {
			t.Errorf("the status shows no %s that is up (%q): %v", kind, state, shown)
		}
	}
	states := f.run.PartStates()
	if len(states["n3"]) == 0 || !slices.Equal(states["n3"], f.node(t, "n3").Parts) {
		t.Errorf("PartStates n3 = %v, status has %v", states["n3"], f.node(t, "n3").Parts)
	}
}

func TestEveryChangeIsPlannedAndRun(t *testing.T) {
	for _, m := range mutations {
		t.Run(m.block+"."+m.attr, func(t *testing.T) {
			base := forgetBase
			if m.networks {
				base = forgetNetworks
			}
			if m.from != "" && !strings.Contains(base, m.from) {
				t.Fatalf("the base file has no %q", m.from)
			}
			f := startForget(t, base, !m.networks)
			edited := base + m.to
			if m.from != "" {
				edited = strings.Replace(base, m.from, m.to, 1)
			}
			newTopo := f.load(t, edited)
			local := allLocal(newTopo)
			if m.networks {
				delete(local, "far")
			}
			d, err := f.run.Reconcile(context.Background(), newTopo, local, ReconcileOptions{})
			if !d.HasChanges() {
				t.Fatalf("the plan of the changed file is empty")
			}
			if m.networks {
				if !errors.Is(err, ErrNetworksFixed) {
					t.Fatalf("Reconcile: %v, want it refused: %v", err, ErrNetworksFixed)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reconcile: %v\nplan:\n%s", err, strings.Join(d.Lines(), "\n"))
			}
			m.verify(t, f, d)
			if t.Failed() {
				t.Logf("plan:\n%s", strings.Join(d.Lines(), "\n"))
			}
		})
	}
}

// forgetFixture is a running forgetBase and what its placeholders stand
// for.
type forgetFixture struct {
	run                      *Running
	dir, idA, idB            string
	targetA, targetB         string
	serveA, serveB, serveC   string
	bin                      string
	execPID                  int
	logs                     *syncBuffer
	replacer                 *strings.Replacer
	identityA, identityB     string
	identifierA, identifierB string
}

func startForget(t *testing.T, base string, local bool) *forgetFixture {
	t.Helper()
	f := &forgetFixture{dir: t.TempDir(), logs: &syncBuffer{}}
	f.identityA, f.identityB = filepath.Join(f.dir, "a.identity"), filepath.Join(f.dir, "b.identity")
	for _, p := range []string{f.identityA, f.identityB} {
		if _, err := secure.LoadOrCreateIdentity(p, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	idB, err := secure.LoadIdentity(f.identityB)
	if err != nil {
		t.Fatal(err)
	}
	f.idB = idB.Identifier.String()
	f.targetA, f.targetB = namedTarget(t, "A"), namedTarget(t, "B")
	f.serveA, f.serveB, f.serveC = fixedPort(t), fixedPort(t), fixedPort(t)
	f.bin, err = os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f.replacer = strings.NewReplacer("ID_A", f.identityA, "ID_B", f.identityB, "TARGET_A", f.targetA, "TARGET_B", f.targetB,
		"SERVE_A", f.serveA, "SERVE_B", f.serveB, "SERVE_C", f.serveC, "BIN", f.bin)
	topo := f.load(t, base)
	locals := allLocal(topo)
	if !local {
		delete(locals, "far")
	}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: f.logs})
	run, err := Start(context.Background(), topo, locals, StartOptions{Logger: log, ExecStopWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.run = run
	f.execPID = run.Execs()["n3.srv"]
	t.Cleanup(func() {
		run.Stop()
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs)
		}
	})
	return f
}

func (f *forgetFixture) load(t *testing.T, src string) *topology.Topology {
	t.Helper()
	topo, _, diags := topology.Load(filepath.Join(f.dir, "t.hcl"), []byte(f.replacer.Replace(src)), schema.Overrides{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return topo
}

// send sends payload from n1 along route and wants the reply want.
func (f *forgetFixture) send(t *testing.T, route, payload, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := f.run.Send(ctx, "n1", route, wire.EncodeString(payload))
	var got string
	if err == nil {
		got, err = wire.String(reply)
	}
	if err != nil || got != want {
		t.Errorf("send %q to %s: %q, %v; want %q", payload, route, got, err, want)
	}
}

func (f *forgetFixture) node(t *testing.T, name string) NodeStatus {
	t.Helper()
	for _, n := range f.run.Status().Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s runs", name)
	return NodeStatus{}
}

func (f *forgetFixture) outlet(t *testing.T, name string) string {
	t.Helper()
	for _, o := range f.node(t, "n3").Outlets {
		if o.Name == name {
			return o.Target
		}
	}
	return ""
}

func (f *forgetFixture) inlet(t *testing.T, name string) InletStatus {
	t.Helper()
	for _, in := range f.node(t, "n1").Inlets {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no inlet %s runs", name)
	return InletStatus{}
}

func (f *forgetFixture) udpOutlet(t *testing.T, name string) string {
	t.Helper()
	for _, o := range f.node(t, "n3").UDPOutlets {
		if o.Name == name {
			return o.Target
		}
	}
	return ""
}

func (f *forgetFixture) udpInlet(t *testing.T, name string) UDPInletStatus {
	t.Helper()
	for _, in := range f.node(t, "n1").UDPInlets {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no udp_inlet %s runs", name)
	return UDPInletStatus{}
}

// execReplaced checks that exec srv runs as a new process.
func (f *forgetFixture) execReplaced(t *testing.T) {
	t.Helper()
	if pid := f.run.Execs()["n3.srv"]; pid == 0 || pid == f.execPID {
		t.Errorf("exec srv has pid %d, was %d: not replaced", pid, f.execPID)
	}
}

// check runs the checks the plan adds or changes, and wants the one
// called name, passed or failed as ok says.
func (f *forgetFixture) check(t *testing.T, d *topology.Diff, name string, ok bool) {
	t.Helper()
	res := f.run.RunChecksOf(context.Background(), d)
	if len(res) != 1 || res[0].Name != name || res[0].OK != ok {
		t.Errorf("checks run: %+v, want %s with ok=%v", res, name, ok)
	}
}

// A topology with networks takes a change of its checks: they run anew
// and hold nothing in the namespaces.
func TestNetworksTakeCheckChanges(t *testing.T) {
	f := startForget(t, forgetNetworks, false)
	edited := forgetNetworks + `
check "echo" {
  from = node.here
  to   = "/service/echo"
  send = "hi"
}
`
	newTopo := f.load(t, edited)
	local := allLocal(newTopo)
	delete(local, "far")
	d, err := f.run.Reconcile(context.Background(), newTopo, local, ReconcileOptions{})
	if err != nil || d.Add != 1 {
		t.Fatalf("Reconcile: %v, %v", d.Lines(), err)
	}
	if res := f.run.RunChecksOf(context.Background(), d); len(res) != 1 || !res[0].OK {
		t.Errorf("checks: %+v", res)
	}
}

// fixedPort is a loopback port for a process the test starts to listen
// on, free a moment ago: one below the kernel's ephemeral range (32768 and
// up on Linux), so that no connection made meanwhile takes it, as one
// may take a port that a bind to port 0 returned.
func fixedPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return strconv.Itoa(p)
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}
