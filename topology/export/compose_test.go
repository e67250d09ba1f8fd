package export

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

var update = flag.Bool("update", false, "rewrite the golden Compose files of testdata/")

// exportExample exports examples/NAME.hcl as Compose, with new identities.
func exportExample(t *testing.T, name string, vars ...string) ([]File, *topology.Topology) {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name+".hcl")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srcs := []schema.Source{{Filename: path, Bytes: src}}
	top, _, diags := topology.LoadFiles(srcs, schema.Overrides{Engine: true, Vars: vars})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ids := Identities{}
	for _, n := range top.Nodes {
		if ids[n.Name], err = secure.NewIdentity(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Compose(top, srcs, ids, Options{Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	return files, top
}

func file(t *testing.T, files []File, path string) File {
	t.Helper()
	for _, f := range files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("no %s among %d files", path, len(files))
	return File{}
}

// The seeds' scenarios export to Compose files that the Compose
// specification's own loader takes, validation on, with the services,
// networks, published ports and secrets the mapping says; the files are
// golden, so that a change to the mapping shows in review.
func TestComposeExamples(t *testing.T) {
	for _, name := range []string{"relay", "bridge", "networks"} {
		t.Run(name, func(t *testing.T) {
			files, top := exportExample(t, name)
			dir := t.TempDir()
			for _, f := range files {
				path := filepath.Join(dir, f.Path)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, f.Data, f.Mode); err != nil {
					t.Fatal(err)
				}
			}
			compose := file(t, files, ComposeFile)
			golden := filepath.Join("testdata", name+".compose.yaml")
			if *update {
				if err := os.WriteFile(golden, compose.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(compose.Data, want) {
				t.Errorf("%s differs from %s (go test -update to rewrite it):\n%s", ComposeFile, golden, compose.Data)
			}

			p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
				WorkingDir:  dir,
				ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, ComposeFile)}},
				Environment: types.Mapping{},
			}, func(o *loader.Options) { o.SetProjectName("ockamtop-"+name, true) })
			if err != nil {
				t.Fatalf("compose-go refuses the export: %v", err)
			}
			if len(p.Services) != len(top.Nodes) {
				t.Errorf("%d services for %d nodes", len(p.Services), len(top.Nodes))
			}
			for _, n := range top.Nodes {
				s, ok := p.Services[n.Name]
				if !ok {
					t.Fatalf("no service %s", n.Name)
				}
				if got := strings.Join(s.Command, " "); got != "apply --engine --node "+n.Name+" /run/secrets/topology.hcl" {
					t.Errorf("%s runs %q", n.Name, got)
				}
				if len(s.Ports) != len(n.Inlets) {
					t.Errorf("%s publishes %d ports for %d inlets", n.Name, len(s.Ports), len(n.Inlets))
				}
				if len(s.Secrets) != len(top.Nodes)+1 {
					t.Errorf("%s has %d secrets", n.Name, len(s.Secrets))
				}
				for _, nw := range n.EngineNetworks() {
					if _, ok := s.Networks[nw]; !ok {
						t.Errorf("%s is not on network %s", n.Name, nw)
					}
				}
			}
		})
	}
}

// Each container gets its own identity with its secret key, and every
// other node's without: the topology they all run names NAME.identity for
// every node, and trusts by reference resolve from the public ones.
func TestComposeIdentities(t *testing.T) {
	files, top := exportExample(t, "relay")
	for _, n := range top.Nodes {
		own, err := secure.ParseIdentityFile(file(t, files, identityFile(n.Name)).Data)
		if err != nil || !own.HasSecret() {
			t.Errorf("%s's own identity: %v, secret %v", n.Name, err, err == nil && own.HasSecret())
		}
		pub, err := secure.ParseIdentityFile(file(t, files, publicFile(n.Name)).Data)
		if err != nil || pub.HasSecret() || pub.Identifier != own.Identifier {
			t.Errorf("%s's public identity: %v", n.Name, err)
		}
		if m := file(t, files, identityFile(n.Name)).Mode; m != 0o600 {
			t.Errorf("%s's identity file mode %v", n.Name, m)
		}
	}
	top2 := file(t, files, topologyFile).Data
	for _, n := range top.Nodes {
		if !bytes.Contains(top2, []byte(`identity     = "`+n.Name+`.identity"`)) && !bytes.Contains(top2, []byte(`identity = "`+n.Name+`.identity"`)) {
			t.Errorf("the exported topology names no identity file for %s:\n%s", n.Name, top2)
		}
	}
	// The exported topology loads as node n3's container loads it: next to
	// its own identity and the others' public ones.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, topologyFile), top2, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range top.Nodes {
		f := file(t, files, publicFile(n.Name))
		if n.Name == "n3" {
			f = file(t, files, identityFile(n.Name))
		}
		if err := os.WriteFile(filepath.Join(dir, n.Name+".identity"), f.Data, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	in, _, diags := topology.Load(filepath.Join(dir, topologyFile), top2, schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatalf("the exported topology in a container: %v", diags)
	}
	for _, n := range top.Nodes {
		if in.Node(n.Name).Identifier == "" || in.Node(n.Name).LoadedIdentity.HasSecret() != (n.Name == "n3") {
			t.Errorf("%s in n3's container: identifier %q", n.Name, in.Node(n.Name).Identifier)
		}
	}
}
