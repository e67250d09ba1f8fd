package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
)

const secureTopology = `
node "n2" {
  tcp_listener = "127.0.0.1:7000"
}

node "n3" {
  relay "n3" {
    at = node.n2
  }
  secure_channel_listener "api" {
    trust = [node.n1]
  }
  secure_channel_listener "open" {}
  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }
}

node "n1" {}
node "n4" {}
`

func TestWalkSecureRoute(t *testing.T) {
	src := secureTopology + `
node "n5" {
  tcp_inlet "web" {
    from = "127.0.0.1:6000"
    to   = "/node/n2/service/forward_to_n3/secure/open/service/outlet"
  }
}
check "c" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/secure/api/service/uppercase"
  send = "x"
}
`
	top, diags := load(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var got []string
	for _, h := range top.Checks[0].Hops {
		got = append(got, h.Describe())
	}
	want := []string{
		"n1 -> n2  tcp connection to 127.0.0.1:7000",
		"n2 -> n3  relay forwarder forward_to_n3",
		"n1 -> n3  secure channel to listener api; node n2 sees ciphertext only",
		"n3  uppercase answers",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h := top.Inlets[0].Hops; h[len(h)-1].Kind != HopOutlet || h[2].Kind != HopSecure {
		t.Fatalf("inlet hops %+v", h)
	}
}

func TestWalkSecureErrors(t *testing.T) {
	src := secureTopology + `
check "a" {
  from = node.n4
  to   = "/node/n2/service/forward_to_n3/secure/api/service/echo" # ERROR: Secure channel initiator not trusted
  send = "x"
}
check "b" {
  from = node.n1
  to   = "/node/n2/secure/api/service/echo" # ERROR: No secure channel listener
  send = "x"
}
check "c" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/secure/apj/service/echo" # ERROR: No secure channel listener
  send = "x"
}
check "d" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/service/api/service/echo" # ERROR: Route to a secure channel listener
  send = "x"
}
node "n6" {
  secure_channel_listener "x" {
    trust = [node.n9] # ERROR: Reference to undeclared node
  }
}
`
	bad := `
node "n7" {
  secure_channel_listener "x" {
    trust = ["n1", "I00"] # ERROR: Invalid identifier
  }
}
`
	if _, got := load(t, bad); fmt.Sprint(got) != fmt.Sprint(wantErrors(bad)) {
		t.Errorf("errors: %v", got)
	}
	_, got := load(t, src)
	want := wantErrors(src)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("errors:\n got %v\nwant %v", got, want)
	}
	// The error points at the exact segment.
	_, _, diags := Load("test.hcl", []byte(src), schema.Overrides{})
	for _, d := range diags {
		if d.Summary == "No secure channel listener" && strings.Contains(d.Detail, "apj") {
			if d.Subject.End.Byte-d.Subject.Start.Byte != len("/secure/apj") {
				t.Errorf("points at %d bytes, want /secure/apj", d.Subject.End.Byte-d.Subject.Start.Byte)
			}
			if !strings.Contains(d.Detail, `Did you mean "api"?`) {
				t.Errorf("no suggestion: %s", d.Detail)
			}
		}
	}
}

// A listener may trust an identifier; the node whose identity file has it
// is trusted.
func TestWalkSecureTrustByIdentifier(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n4.identity")
	id, err := secure.CreateIdentityFile(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
node "n3" {
  tcp_listener = "127.0.0.1:7000"
  secure_channel_listener "api" {
    trust = [%q]
  }
}
node "n4" {
  identity = "n4.identity"
}
node "n5" {
  identity = "missing.identity" # ERROR: Identity file not found
}
check "c" {
  from = node.n4
  to   = "/node/n3/secure/api/service/echo"
  send = "x"
}
`, id.Identifier)
	file := filepath.Join(dir, "t.hcl")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	top, _, diags := Load(file, []byte(src), schema.Overrides{})
	if len(diags) != 1 || diags[0].Summary != "Identity file not found" {
		t.Fatalf("diagnostics: %v", diags)
	}
	_ = top
}

// A channel inside a channel: the inner one starts where the outer one
// ends, and crosses no node of its own.
func TestWalkNestedSecureRoute(t *testing.T) {
	src := secureTopology + `
check "c" {
  from = node.n1
  to   = "/node/n2/service/forward_to_n3/secure/api/secure/open/service/echo"
  send = "x"
}
`
	top, diags := load(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var got []string
	for _, h := range top.Checks[0].Hops {
		got = append(got, h.Describe())
	}
	want := "n1 -> n2  tcp connection to 127.0.0.1:7000\nn2 -> n3  relay forwarder forward_to_n3\n" +
		"n1 -> n3  secure channel to listener api; node n2 sees ciphertext only\n" +
		"n1 -> n3  secure channel to listener open\nn3  echo answers"
	if strings.Join(got, "\n") != want {
		t.Fatalf("hops:\n%s", strings.Join(got, "\n"))
	}
}
