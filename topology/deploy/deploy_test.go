package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		serve(os.Args[2:])
		return
	}
	goleak.VerifyTestMain(m)
}

// serve is the test binary as a process an exec starts: it accepts
// connections on each address, closes them, and runs until it is killed.
func serve(addrs []string) {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	select {}
}

// syncBuffer is a log sink the nodes write to from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// load plans a topology from source, failing the test on any diagnostic.
func load(t *testing.T, src string) *topology.Topology {
	t.Helper()
	topo, _, diags := topology.Load("test.hcl", []byte(src), schema.Overrides{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return topo
}

// A chain of nodes, each with a relay at the next, and a check that
// crosses 40 of them: it starts, answers, and stops with no warning logged — a clean
// stop is not a failure of the peers that stop with it.
func TestCleanStopLogsNoWarnings(t *testing.T) {
	const nodes = 120
	var src strings.Builder
	for i := range nodes {
		fmt.Fprintf(&src, "node \"n%d\" {\n  tcp_listener = \"127.0.0.1:0\"\n  service \"hop\" {}\n", i)
		if i > 0 {
			fmt.Fprintf(&src, "  relay \"r%d\" {\n    at = node.n%d\n  }\n", i, i-1)
		}
		src.WriteString("}\n")
	}
	route := ""
	for i := 1; i < 40; i++ { // within the route length limit
		route += fmt.Sprintf("/node/n%d/service/hop", i)
	}
	fmt.Fprintf(&src, "check \"across\" {\n  from = node.n0\n  to = \"%s/service/uppercase\"\n  send = \"hello\"\n  expect = \"HELLO\"\n}\n", route)
	topo := load(t, src.String())

	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: logs})
	local := map[string]bool{}
	for _, n := range topo.Nodes {
		local[n.Name] = true
	}
	run, err := Start(context.Background(), topo, local, StartOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range run.RunChecks(context.Background()) {
		if !res.OK {
			run.Stop()
			t.Fatalf("check %s: %s", res.Name, res.Error)
		}
	}
	run.Stop()
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			t.Errorf("a clean stop logged: %s", line)
		}
	}
}

// A part that fails to start stops everything started before it, and the
// error names the part and where the file declares it.
func TestStartFailureStopsEverything(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	topo := load(t, fmt.Sprintf(`
node "n1" {
  tcp_listener = "127.0.0.1:0"
  tcp_outlet "outlet" {
    to = "127.0.0.1:9"
  }
}
node "n2" {
  tcp_inlet "web" {
    from = %q
    to   = "/node/n1/service/outlet"
  }
}
`, taken.Addr().String()))
	_, err = Start(context.Background(), topo, map[string]bool{"n1": true, "n2": true}, StartOptions{})
	var se *StartError
	if err == nil || !errors.As(err, &se) || !strings.Contains(se.Part, `tcp_inlet "web" of node "n2"`) || !strings.Contains(se.Where, "test.hcl:10") {
		t.Fatalf("Start: %v, want a StartError naming tcp_inlet web at test.hcl:10", err)
	}
}
