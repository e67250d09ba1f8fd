package topology

import (
	"slices"
	"strings"
	"testing"

	"github.com/ockamtop/ockamtop/schema"
)

// diffBase is the seeds' portal: n2 relays for n3, n1's inlet reaches
// n3's outlet through a hop.
const diffBase = `
node "n2" {
  tcp_listener = "127.0.0.1:7000"
}

node "n3" {
  service "hop" {}
  relay "n3" {
    at = node.n2
  }
  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }
}

node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:6000"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}

check "up" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hi"
  expect = "HI"
}
`

func mustLoad(t *testing.T, src string) *Topology {
	t.Helper()
	topo, _, diags := Load("t.hcl", []byte(src), schema.Overrides{})
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	return topo
}

// edit returns diffBase with each old string replaced by its new one,
// failing the test if one is not there.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	src := diffBase
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(src, pairs[i]) {
			t.Fatalf("edit: %q is not in the base topology", pairs[i])
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

func TestCompareEveryKindOfPart(t *testing.T) {
	tests := []struct {
		name                string
		new                 string
		lines               []string
		add, change, remove int
	}{
		{
			name:  "nothing",
			new:   diffBase,
			lines: nil,
		},
		{
			name: "node added, with its parts",
			new: diffBase + `
node "n4" {
  tcp_listener = "127.0.0.1:0"
  service "h4" {
    type = "hop"
  }
  relay "n4" {
    at = node.n2
  }
  tcp_outlet "o4" {
    to = "127.0.0.1:9004"
  }
  tcp_inlet "i4" {
    from = "127.0.0.1:0"
    to   = "/service/o4"
  }
}
`,
			lines: []string{
				`+ node n4`,
				`+ service h4 on n4: type "hop"`,
				`+ tcp_listener of node n4: "127.0.0.1:0"`,
				`+ relay n4 on n4: at node.n2`,
				`+ tcp_outlet o4 on n4: to "127.0.0.1:9004"`,
				`+ tcp_inlet i4 on n4: from "127.0.0.1:0", to "/service/o4"`,
			},
			add: 6,
		},
		{
			name: "node removed, with its parts",
			new: edit(t, `node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:6000"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}`, ``, `from   = node.n1`, `from   = node.n3`),
			lines: []string{
				`- node n1`,
				`- tcp_inlet web on n1`,
				`~ check "up": from node.n1 -> node.n3`,
			},
			change: 1, remove: 2,
		},
		{
			name: "node's allow list changed in place",
			new: edit(t, `tcp_listener = "127.0.0.1:7000"`, `tcp_listener = "127.0.0.1:7000"
  allow = ["mine"]`),
			lines:  []string{`~ node n2: allow null -> ["mine"]`},
			change: 1,
		},
		{
			name: "listener moved: the relays at it are replaced",
			new:  edit(t, `"127.0.0.1:7000"`, `"127.0.0.1:7001"`),
			lines: []string{
				`~ tcp_listener of node n2: "127.0.0.1:7000" -> "127.0.0.1:7001", replaced`,
				`~ relay n3 on n3: replaced because tcp_listener of node n2 changed`,
			},
			change: 2,
		},
		{
			name: "listener added",
			new: edit(t, `node "n1" {`, `node "n1" {
  tcp_listener = "127.0.0.1:0"`),
			lines: []string{`+ tcp_listener of node n1: "127.0.0.1:0"`},
			add:   1,
		},
		{
			name: "service added, changed, removed",
			new: edit(t, `service "hop" {}`, `service "hop" {}
  service "h2" {
    type = "hop"
  }`, `node "n1" {`, `node "n1" {
  service "hop" {}`),
			lines: []string{`+ service h2 on n3: type "hop"`, `+ service hop on n1: type "hop"`},
			add:   2,
		},
		{
			name: "relay moved to another node",
			new: edit(t, `node "n1" {`, `node "n1" {
  tcp_listener = "127.0.0.1:0"`, `at = node.n2`, `at = node.n1`, `/node/n2/service/forward_to_n3`, `/node/n1/service/forward_to_n3`, `/node/n2/service/forward_to_n3`, `/node/n1/service/forward_to_n3`),
			lines:  []string{`+ tcp_listener of node n1: "127.0.0.1:0"`, `~ tcp_inlet web on n1: to "/node/n2/service/forward_to_n3/service/hop/service/outlet" -> "/node/n1/service/forward_to_n3/service/hop/service/outlet"`, `~ relay n3 on n3: at node.n2 -> node.n1, replaced`, `~ check "up": to "/node/n2/service/forward_to_n3/service/uppercase" -> "/node/n1/service/forward_to_n3/service/uppercase"`},
			add:    1,
			change: 3,
		},
		{
			name: "relay and its route removed",
			new: edit(t, `relay "n3" {
    at = node.n2
  }`, ``, `/node/n2/service/forward_to_n3/service/hop/service/outlet`, `/node/n3/service/hop/service/outlet`, `node "n3" {`, `node "n3" {
  tcp_listener = "127.0.0.1:7003"`, `/node/n2/service/forward_to_n3/service/uppercase`, `/node/n3/service/uppercase`),
			lines: []string{
				`+ tcp_listener of node n3: "127.0.0.1:7003"`,
				`- relay n3 on n3`,
				`~ tcp_inlet web on n1: to "/node/n2/service/forward_to_n3/service/hop/service/outlet" -> "/node/n3/service/hop/service/outlet"`,
				`~ check "up": to "/node/n2/service/forward_to_n3/service/uppercase" -> "/node/n3/service/uppercase"`,
			},
			add: 1, change: 2, remove: 1,
		},
		{
			name:   "outlet's target changed in place",
			new:    edit(t, `"127.0.0.1:9000"`, `"127.0.0.1:9001"`),
			lines:  []string{`~ tcp_outlet outlet on n3: to "127.0.0.1:9000" -> "127.0.0.1:9001"`},
			change: 1,
		},
		{
			name: "outlet added and removed",
			new:  edit(t, `tcp_outlet "outlet" {`, `tcp_outlet "outlet2" {`, `/service/hop/service/outlet"`, `/service/hop/service/outlet2"`),
			lines: []string{
				`+ tcp_outlet outlet2 on n3: to "127.0.0.1:9000"`,
				`- tcp_outlet outlet on n3`,
				`~ tcp_inlet web on n1: to "/node/n2/service/forward_to_n3/service/hop/service/outlet" -> "/node/n2/service/forward_to_n3/service/hop/service/outlet2"`,
			},
			add: 1, change: 1, remove: 1,
		},
		{
			name:   "inlet moved to another port: replaced",
			new:    edit(t, `"127.0.0.1:6000"`, `"127.0.0.1:6001"`),
			lines:  []string{`~ tcp_inlet web on n1: from "127.0.0.1:6000" -> "127.0.0.1:6001", replaced`},
			change: 1,
		},
		{
			name: "inlet renamed: one added, one removed",
			new:  edit(t, `tcp_inlet "web"`, `tcp_inlet "www"`),
			lines: []string{
				`+ tcp_inlet www on n1: from "127.0.0.1:6000", to "/node/n2/service/forward_to_n3/service/hop/service/outlet"`,
				`- tcp_inlet web on n1`,
			},
			add: 1, remove: 1,
		},
		{
			name:   "check changed",
			new:    edit(t, `send   = "hi"`, `send   = "ho"`, `expect = "HI"`, `timeout = "2s"`),
			lines:  []string{`~ check "up": send "hi" -> "ho", expect "HI" -> null, timeout "5s" -> "2s"`},
			change: 1,
		},
		{
			name: "check added and removed",
			new:  edit(t, `check "up"`, `check "upper"`),
			lines: []string{
				`+ check "upper": from node.n1, to "/node/n2/service/forward_to_n3/service/uppercase", send "hi", expect "HI", timeout "5s"`,
				`- check "up"`,
			},
			add: 1, remove: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compare(mustLoad(t, diffBase), mustLoad(t, tt.new))
			if got := d.Lines(); !slices.Equal(got, tt.lines) {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.lines, "\n"))
			}
			if d.Add != tt.add || d.Change != tt.change || d.Remove != tt.remove {
				t.Errorf("counts: %s, want %d to add, %d to change, %d to remove", d.Summary(), tt.add, tt.change, tt.remove)
			}
		})
	}
}

// Every part of both plans has a change, unchanged ones too, in plan
// order: start order of the nodes, then each node's parts, then checks.
func TestCompareListsUnchangedPartsInPlanOrder(t *testing.T) {
	d := Compare(mustLoad(t, diffBase), mustLoad(t, diffBase))
	var got []string
	for _, c := range d.Changes {
		if c.Action != ActionUnchanged {
			t.Errorf("%s: %s, want unchanged", c.Label(), c.Action)
		}
		if c.Where == "" {
			t.Errorf("%s: no declaration range", c.Label())
		}
		got = append(got, c.Label())
	}
	want := []string{
		"node n2", "tcp_listener of node n2",
		"node n3", "service hop on n3", "relay n3 on n3", "tcp_outlet outlet on n3",
		"node n1", "tcp_inlet web on n1",
		`check "up"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("parts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.HasChanges() {
		t.Error("HasChanges on an unchanged topology")
	}
	var b strings.Builder
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "No changes: the running topology matches the file.\n" {
		t.Errorf("text: %q", got)
	}
}

// A change points at the declaration in the new file, a removal at the
// old one.
func TestCompareWhere(t *testing.T) {
	d := Compare(mustLoad(t, diffBase), mustLoad(t, edit(t, `"127.0.0.1:6000"`, `"127.0.0.1:6001"`, `  service "hop" {}
`, ``, `/service/hop/service/outlet`, `/service/outlet`)))
	where := map[string]string{}
	for _, c := range d.Changes {
		where[c.Label()] = c.Where
	}
	if got := where["tcp_inlet web on n1"]; got != "t.hcl:16,3-18" {
		t.Errorf("changed inlet at %q", got)
	}
	if got := where["service hop on n3"]; got != "t.hcl:7,3-16" {
		t.Errorf("removed service at %q", got)
	}
	if got := where["tcp_listener of node n2"]; got != "t.hcl:3,18-34" {
		t.Errorf("listener at %q", got)
	}
}

func TestDiffText(t *testing.T) {
	d := Compare(mustLoad(t, diffBase), mustLoad(t, edit(t, `"127.0.0.1:9000"`, `"127.0.0.1:9001"`)+`
check "more" {
  from = node.n3
  to   = "/service/uppercase"
  send = "x"
}
`))
	var b strings.Builder
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `  ~ tcp_outlet outlet on n3: to "127.0.0.1:9000" -> "127.0.0.1:9001"
  + check "more": from node.n3, to "/service/uppercase", send "x", timeout "5s"

Plan: 1 to add, 1 to change, 0 to remove.
`
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCompareServices(t *testing.T) {
	old := edit(t, `node "n1" {`, `node "n1" {
  service "a" {
    type = "hop"
  }
  service "b" {
    type = "hop"
  }`)
	new := edit(t, `node "n1" {`, `node "n1" {
  service "a" {
    type = "echo"
  }
  service "c" {
    type = "uppercase"
  }`)
	d := Compare(mustLoad(t, old), mustLoad(t, new))
	want := []string{`~ service a on n1: type "hop" -> "echo", replaced`, `+ service c on n1: type "uppercase"`, `- service b on n1`}
	if got := d.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.Summary() != "Plan: 1 to add, 1 to change, 1 to remove." {
		t.Errorf("summary %q", d.Summary())
	}
}

func TestCompareListenerRemoved(t *testing.T) {
	old := edit(t, `node "n1" {`, `node "n1" {
  tcp_listener = "127.0.0.1:7001"`)
	d := Compare(mustLoad(t, old), mustLoad(t, diffBase))
	want := []string{`- tcp_listener of node n1`}
	if got := d.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.Summary() != "Plan: 0 to add, 0 to change, 1 to remove." {
		t.Errorf("summary %q", d.Summary())
	}
	for _, c := range d.Changes {
		if c.Kind == PartListener && c.Name == "n1" && c.Where != "t.hcl:17,18-34" {
			t.Errorf("a removed listener points at %q, its old declaration", c.Where)
		}
	}
}
