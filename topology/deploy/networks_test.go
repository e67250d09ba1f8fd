package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/netns"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// privileged skips a test where this process may not make namespaces
// (CI runs as root, so there it runs).
func privileged(t *testing.T) {
	t.Helper()
	if err := netns.CheckPrivilege(); err != nil {
		t.Skipf("network namespaces: %v", err)
	}
}

// leftovers is what this process holds that a stopped topology must not
// have left: network namespaces other than the host's (by a descriptor
// or a thread in one), child processes, and interfaces in the host's
// namespace other than those there before.
type leftovers struct {
	namespaces []string
	children   []string
	links      []string
}

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

func ownNamespaces(t *testing.T) []string {
	t.Helper()
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	links, _ := filepath.Glob("/proc/self/task/*/ns/net")
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, l := range slices.Concat(links, fds) {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, "net:") && target != host {
			out = append(out, l+" "+target)
		}
	}
	return out
}

// liveChildren lists this process's children that are alive (not zombies).
func liveChildren(t *testing.T) []string {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// PID (COMM) STATE PPID ...; COMM may hold spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == self && f[0] != "Z" {
			out = append(out, s)
		}
	}
	return out
}

// checkNothingLeft waits, within a deadline, for what a stop frees
// asynchronously (a killed process's exit), then fails on what is left.
func checkNothingLeft(t *testing.T, linksBefore []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := leftovers{ownNamespaces(t), liveChildren(t), hostLinks(t)}
		if len(l.namespaces) == 0 && len(l.children) == 0 && slices.Equal(l.links, linksBefore) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: namespaces %v, processes %v, host interfaces %v (were %v)", l.namespaces, l.children, l.links, linksBefore)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const isolatedBridge = `
network "office" {}
network "factory" {}

node "n1" {
  networks = [network.office]
}
node "n2" {
  networks     = [network.office, network.factory]
  tcp_listener = "0.0.0.0:0"
}
node "n3" {
  networks     = [network.factory]
  tcp_listener = "0.0.0.0:0"
  exec "idle" {
    command = ["sleep", "1000"]
  }
}
check "bridge" {
  from   = node.n1
  to     = "/node/n2/node/n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
`

// The seeds' bridge on networks: the check crosses n1 -> n2 -> n3 over
// two networks; n1 cannot reach n3 itself; after Stop, nothing is left.
func TestNetworksBridge(t *testing.T) {
	privileged(t)
	before := hostLinks(t)
	topo := load(t, isolatedBridge)
	ctx := context.Background()
	r, err := Start(ctx, topo, map[string]bool{"n1": true, "n2": true, "n3": true}, StartOptions{Logger: hclog.New(&hclog.LoggerOptions{Output: t.Output()})})
	if err != nil {
		t.Fatal(err)
	}
	res := r.RunChecks(ctx)
	if len(res) != 1 || !res[0].OK {
		t.Errorf("check: %+v", res)
	}
	// n3 listens on its factory address; from n1's namespace it is out
	// of reach, from n2's it is not.
	n3, err := r.addressFrom("n2", "n3")
	if err != nil || !strings.HasPrefix(n3, "198.18.1.2:") {
		t.Fatalf("n3 from n2: %q, %v", n3, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := r.iso.sockets("n1", nil).Dial(dctx, "tcp", n3); err == nil {
		c.Close()
		t.Errorf("n1 reached n3 at %s", n3)
	}
	c, err := r.iso.sockets("n2", nil).Dial(dctx, "tcp", n3)
	if err != nil {
		t.Errorf("n2 did not reach n3 at %s: %v", n3, err)
	} else {
		c.Close()
	}
	if _, err := r.Send(ctx, "n1", "/node/n3/service/echo", wire.EncodeString("x")); err == nil ||
		!strings.Contains(err.Error(), "n1 is on office, n3 is on factory; reach n3 through a node on both, or a relay") {
		t.Errorf("send /node/n3 from n1: %v", err)
	}
	if len(r.Execs()) != 1 {
		t.Errorf("execs: %v", r.Execs())
	}
	r.Stop()
	select {
	case e := <-r.ExecExited():
		t.Errorf("a process stopped by Stop reported as exited: %v", e)
	default:
	}
	checkNothingLeft(t, before)
}

// A start that fails half way (a process that never accepts connections)
// leaves nothing: namespaces, interfaces, processes.
func TestNetworksFailedStart(t *testing.T) {
	privileged(t)
	before := hostLinks(t)
	topo := load(t, `
network "n" {}
node "a" {
  networks     = [network.n]
  tcp_listener = "0.0.0.0:0"
}
node "b" {
  networks = [network.n]
  exec "never" {
    command  = ["sleep", "1000"]
    wait_for = "127.0.0.1:1"
    timeout  = "300ms"
  }
}
`)
	_, err := Start(context.Background(), topo, map[string]bool{"a": true, "b": true}, StartOptions{})
	if se, ok := errors.AsType[*StartError](err); !ok || !strings.Contains(se.Error(), `exec "never" of node "b"`) ||
		!strings.Contains(se.Error(), "nothing accepted connections on 127.0.0.1:1 within 300ms") {
		t.Fatalf("got %v", err)
	}
	checkNothingLeft(t, before)
}

// Without the privilege, Start starts nothing and says what is missing.
func TestNetworksWithoutPrivilege(t *testing.T) {
	topo := load(t, isolatedBridge)
	_, err := Start(context.Background(), topo, map[string]bool{"n1": true, "n2": true, "n3": true}, StartOptions{
		CheckPrivilege: func() error { return errors.New("this process lacks CAP_NET_ADMIN") },
	})
	pe, ok := errors.AsType[*PrivilegeError](err)
	if !ok || pe.Error() != "networks (office, factory) need Linux network namespaces, which need CAP_SYS_ADMIN and CAP_NET_ADMIN (run apply as root): this process lacks CAP_NET_ADMIN" {
		t.Fatalf("got %v", err)
	}
	if l := liveChildren(t); len(l) > 0 {
		t.Errorf("processes started: %v", l)
	}
}

// exec without networks: in the host's namespace, its output in the log;
// one that exits on its own is reported, once; Stop ends the others.
func TestExecHost(t *testing.T) {
	var log syncBuffer
	topo := load(t, `
node "a" {
  exec "talks" {
    command = ["sh", "-c", "echo hello from talks; echo to stderr >&2; exec sleep 1000"]
  }
  exec "quits" {
    command = ["sh", "-c", "read line; exit 3"]
  }
}
`)
	r, err := Start(context.Background(), topo, map[string]bool{"a": true}, StartOptions{Logger: hclog.New(&hclog.LoggerOptions{Output: &log})})
	if err != nil {
		t.Fatal(err)
	}
	// "quits" waits for a line on stdin, which is /dev/null: EOF at once.
	select {
	case e := <-r.ExecExited():
		if e.Node != "a" || e.Name != "quits" || e.Error() != `exec "quits" of node "a" exited: exit status 3` {
			t.Errorf("exited: %v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "to stderr") || !strings.Contains(log.String(), "hello from talks") {
		if time.Now().After(deadline) {
			t.Fatalf("output not in the log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid := r.Execs()["a.talks"]
	r.Stop()
	if err := syscallKill0(pid); err == nil {
		t.Errorf("process %d alive after Stop", pid)
	}
	if !strings.Contains(log.String(), "exec=talks node=a stream=stdout") {
		t.Errorf("log lines lack their exec:\n%s", log.String())
	}
}

// A process that cannot start fails its node's start, naming it.
func TestExecNoSuchProgram(t *testing.T) {
	topo := load(t, `
node "a" {
  exec "x" {
    command = ["/nonexistent/program"]
  }
}
`)
	_, err := Start(context.Background(), topo, map[string]bool{"a": true}, StartOptions{})
	if err == nil || !strings.Contains(err.Error(), `exec "x" of node "a"`) || !strings.Contains(err.Error(), "start /nonexistent/program") {
		t.Fatalf("got %v", err)
	}
}

// With ExternalExecs another starts the processes (a pod's other
// containers): Start runs none, and waits for each wait_for instead,
// failing when nothing accepts there within the exec's timeout.
func TestExternalExecs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	topo := load(t, fmt.Sprintf(`
node "a" {
  exec "web" {
    command  = ["/nonexistent/program"]
    wait_for = %q
  }
  exec "side" {
    command = ["/nonexistent/too"]
  }
}
`, l.Addr().String()))
	var progress []string
	r, err := Start(context.Background(), topo, map[string]bool{"a": true}, StartOptions{
		ExternalExecs: true,
		Progress:      func(line string) { progress = append(progress, line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Execs(); len(got) != 0 {
		t.Errorf("processes of this one's: %v", got)
	}
	ns := r.Status().Nodes[0]
	if len(ns.Execs) != 2 || !ns.Execs[0].External || ns.Execs[0].PID != 0 {
		t.Errorf("status: %+v", ns.Execs)
	}
	if !slices.Contains(progress, "✔ exec web on a: started elsewhere, accepting on "+l.Addr().String()) {
		t.Errorf("progress: %q", progress)
	}
	r.Stop()

	addr := l.Addr().String()
	l.Close()
	topo = load(t, fmt.Sprintf(`
node "a" {
  exec "web" {
    command  = ["/web"]
    wait_for = %q
    timeout  = "300ms"
  }
}
`, addr))
	_, err = Start(context.Background(), topo, map[string]bool{"a": true}, StartOptions{ExternalExecs: true})
	if err == nil || !strings.Contains(err.Error(), `exec "web" of node "a"`) || !strings.Contains(err.Error(), "nothing accepted connections on "+addr+" within 300ms") {
		t.Fatalf("got %v", err)
	}
}

func TestLineLog(t *testing.T) {
	var out syncBuffer
	l := &lineLog{log: hclog.New(&hclog.LoggerOptions{Output: &out, DisableTime: true})}
	fmt.Fprint(l, "one\r\ntw")
	fmt.Fprint(l, "o\n"+strings.Repeat("x", maxLogLine+10))
	l.flush()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "one") || !strings.HasSuffix(lines[1], "two") ||
		len(lines[2]) < maxLogLine || !strings.HasSuffix(lines[3], "xxxxxxxxxx") {
		t.Errorf("lines: %q", lines)
	}
}

// syscallKill0 is kill(pid, 0): nil while the process exists.
func syscallKill0(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.Signal(0))
}
