package ockam

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseArgs(t *testing.T) {
	t.Parallel()
	cmd := &command{pos: "MESSAGE", minPos: 1, maxPos: 1, flags: []flagSpec{
		{name: "to", short: "t", value: "ROUTE"},
		{name: "timeout", value: "T", def: "10s"},
		{name: "yes", short: "y"},
	}}
	a, err := parseArgs(cmd, []string{"hello", "--to=/node/n1/service/echo", "-y"})
	if err != nil {
		t.Fatal(err)
	}
	if a.arg(0) != "hello" || a.str("to") != "/node/n1/service/echo" || !a.flag("yes") || a.str("timeout") != "10s" {
		t.Errorf("parsed %+v", a)
	}
	a, err = parseArgs(cmd, []string{"-t", "/service/echo", "--timeout", "2s", "--", "--hello"})
	if err != nil {
		t.Fatal(err)
	}
	if a.arg(0) != "--hello" || a.str("to") != "/service/echo" || a.str("timeout") != "2s" || a.flag("yes") {
		t.Errorf("parsed %+v", a)
	}
	for _, bad := range [][]string{
		{"hello", "--nope"},       // unknown flag
		{"hello", "--to"},         // no value
		{},                        // MESSAGE missing
		{"hello", "world"},        // one too many
		{"hello", "-x", "--to=a"}, // unknown short flag
	} {
		_, err := parseArgs(cmd, bad)
		var ce *cmdError
		if !errors.As(err, &ce) || ce.code != exitUsage {
			t.Errorf("parseArgs(%q) = %v, want a usage error", bad, err)
		}
	}
	if _, err := parseArgs(cmd, []string{"--help"}); !errors.Is(err, errHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestSocketAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"6000":                   "127.0.0.1:6000",
		"127.0.0.1:7000":         "127.0.0.1:7000",
		"/ip4/127.0.0.1/tcp/700": "127.0.0.1:700",
		"localhost:80":           "localhost:80",
	} {
		if got, err := socketAddress(in); err != nil || got != want {
			t.Errorf("socketAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "nohost", ":80", "1.2.3.4:99999", "/ip4/1.2.3.4/udp/5"} {
		if got, err := socketAddress(bad); err == nil {
			t.Errorf("socketAddress(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSecureRoute(t *testing.T) {
	t.Parallel()
	got, err := secureRoute("/node/n2/service/forward_to_n3/service/api")
	if err != nil || got != "/node/n2/service/forward_to_n3/secure/api" {
		t.Errorf("secureRoute = %q, %v", got, err)
	}
	if _, err := secureRoute("/node/n2"); err == nil {
		t.Error("a route without /service/NAME at its end was taken")
	}
}

// session is the seeds' relay-and-portal session.
func session() *Session {
	return &Session{Default: "n2", Nodes: []*Node{
		{Name: "n2", Listener: "127.0.0.1:7000", Services: []Service{{"hop", "hop"}}, SCListeners: []SCListener{{Name: "api"}}},
		{Name: "n3", Listener: "127.0.0.1:7001", Services: []Service{{"hop", "hop"}, {"up2", "uppercase"}},
			Relays: []Relay{{Name: "n3", At: "n2"}}, Outlets: []Outlet{{Name: "outlet", To: "127.0.0.1:9000"}},
			SCListeners: []SCListener{{Name: "api"}, {Name: "only", Authorized: []string{"I" + strings.Repeat("ab", 32)}}}},
		{Name: "n1", Listener: "127.0.0.1:7002",
			Inlets:      []Inlet{{Alias: "web", From: "127.0.0.1:6000", To: "/node/n2/service/forward_to_n3/service/hop/service/outlet"}},
			Connections: []Connection{{Worker: "aa", To: "127.0.0.1:7000", Node: "n2"}, {Worker: "bb", To: "10.0.0.1:5"}},
			Channels:    []Channel{{Worker: "cc", Route: "/node/n2/secure/api"}}},
	}}
}

func TestSessionHCLPlansAndIsFormatted(t *testing.T) {
	t.Parallel()
	src := session().HCL("")
	if !bytes.Equal(hclwrite.Format(src), src) {
		t.Errorf("the session's HCL is not formatted:\n%s", src)
	}
	top, err := planHCL("session.hcl", src)
	if err != nil {
		t.Fatalf("the session does not plan: %v\n%s", err, src)
	}
	if got := top.Summary(); !strings.Contains(got, "3 nodes, 1 relay, 1 outlet, 1 inlet") {
		t.Errorf("summary %q", got)
	}
	for _, want := range []string{`at = node.n2`, `type = "uppercase"`, `trust = ["I`, `secure_channel_listener "api" {}`} {
		if !strings.Contains(string(src), want) {
			t.Errorf("the HCL has no %s:\n%s", want, src)
		}
	}
}

func TestRouteNamesConnectionsAndChannels(t *testing.T) {
	t.Parallel()
	s := session()
	r := &run{}
	n1 := s.node("n1")
	for in, want := range map[string]string{
		"/worker/aa/service/forward_to_n3/service/echo": "/node/n2/service/forward_to_n3/service/echo",
		"/worker/bb/service/echo":                       "/ip4/10.0.0.1/tcp/5/service/echo",
		"/service/cc/service/uppercase":                 "/node/n2/secure/api/service/uppercase",
		"/service/hop/service/echo":                     "/service/hop/service/echo",
		"/worker/ff/service/echo":                       "/worker/ff/service/echo",
	} {
		if got, err := r.route(s, n1, in); err != nil || got != want {
			t.Errorf("route(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := r.route(s, n1, "service/echo"); err == nil {
		t.Error("a route without a leading / was taken")
	}
}

func TestStdinRoute(t *testing.T) {
	t.Parallel()
	r := &run{Env: Env{Stdin: strings.NewReader("/service/0123\n")}}
	if got, err := r.stdinRoute("-/service/outlet"); err != nil || got != "/service/0123/service/outlet" {
		t.Errorf("stdinRoute = %q, %v", got, err)
	}
	r = &run{Env: Env{Stdin: strings.NewReader("")}}
	if _, err := r.stdinRoute("-/service/outlet"); err == nil {
		t.Error("an empty standard input was taken")
	}
	if got, _ := r.stdinRoute("-x"); got != "-x" {
		t.Errorf("a route that does not start with -/ changed: %q", got)
	}
}

func TestRemoveTakesDependents(t *testing.T) {
	t.Parallel()
	s := session()
	gone := s.remove("n2")
	if s.node("n2") != nil || s.Default != "n3" {
		t.Errorf("n2 still there, or the default (%q) not moved", s.Default)
	}
	if len(s.node("n3").Relays) != 0 || len(s.node("n1").Inlets) != 0 || len(s.node("n1").Connections) != 1 {
		t.Errorf("n2's dependents are left: %+v %+v", s.node("n3"), s.node("n1"))
	}
	if len(gone) != 2 {
		t.Errorf("gone = %v", gone)
	}
}

func TestConfigCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r := &run{Env: Env{Environ: []string{"CLIENT=16000"}}}
	p := write("node.yaml", `variables:
  PORT: 5000
  CLIENT: 15000
name: n1
tcp-listener-address: 127.0.0.1:3333
relay: default
tcp-outlet:
  db:
    to: $PORT
tcp-inlets:
  web:
    from: ${CLIENT}
    to: /node/n2/service/x
    no-connection-wait: true
`)
	got, err := r.configCommands(p, true)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"node", "create", "n1", "--tcp-listener-address", "127.0.0.1:3333"},
		{"relay", "create", "default", "--to", "n1"},
		{"tcp-outlet", "create", "--from", "db", "--to", "5000", "--at", "n1"},
		{"tcp-inlet", "create", "--alias", "web", "--from", "16000", "--to", "/node/n2/service/x", "--no-connection-wait", "--at", "n1"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("commands\n%q\nwant\n%q", got, want)
	}
	p = write("run.yaml", "nodes: [n2, n3]\nkafka-inlet:\n  k: {}\n")
	if _, err := r.configCommands(p, false); err == nil || !strings.Contains(err.Error(), "run.yaml:2: the section 'kafka-inlet'") {
		t.Errorf("kafka-inlet: %v", err)
	}
	p = write("unset.yaml", "nodes:\n  n2:\n    tcp-listener-address: $NOPE\n")
	if _, err := r.configCommands(p, false); err == nil || !strings.Contains(err.Error(), "unset.yaml:3: the variable NOPE") {
		t.Errorf("unset variable: %v", err)
	}
}
