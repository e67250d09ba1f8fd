package export

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// manifests are the objects of a Kubernetes export, decoded strictly (a
// field the API types do not have fails), by kind.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	policies    map[string]*networkingv1.NetworkPolicy
	kinds       []string
}

func decodeManifests(t *testing.T, data []byte) manifests {
	t.Helper()
	m := manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, policies: map[string]*networkingv1.NetworkPolicy{}}
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		if i == 0 {
			continue // the comment before the first object
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj interface{ GetName() string }
		switch head.Kind {
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "Service":
			obj = &corev1.Service{}
		case "Secret":
			obj = &corev1.Secret{}
		case "NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		default:
			t.Fatalf("document %d is a %q", i, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s) does not decode strictly into the API's types: %v", i, head.Kind, err)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments[o.Name] = o
		case *corev1.Service:
			m.services[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *networkingv1.NetworkPolicy:
			m.policies[o.Name] = o
		}
		m.kinds = append(m.kinds, head.Kind+" "+obj.GetName())
	}
	return m
}

func exportKubernetes(t *testing.T, name string, o KubernetesOptions) ([]File, *topology.Topology) {
	t.Helper()
	return exportKubernetesFile(t, filepath.Join("..", "..", "examples", name+".hcl"), o)
}

// exportKubernetesFile exports the file at path.
func exportKubernetesFile(t *testing.T, path string, o KubernetesOptions) ([]File, *topology.Topology) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srcs := []schema.Source{{Filename: path, Bytes: src}}
	top, _, diags := topology.LoadFiles(srcs, schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ids := Identities{}
	for _, n := range top.Nodes {
		if ids[n.Name], err = secure.NewIdentity(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Kubernetes(top, srcs, ids, o)
	if err != nil {
		t.Fatal(err)
	}
	return files, top
}

// The seeds' portal on networks becomes, on Kubernetes: a Deployment of
// one replica a node, a Service for each listening node and each inlet,
// the secrets each pod projects, a default-deny NetworkPolicy and one a
// node that lets in only the pods of its networks (and anyone at its
// inlet). The list of objects is golden.
func TestKubernetesNetworks(t *testing.T) {
	files, top := exportKubernetes(t, "networks", KubernetesOptions{Namespace: "demo", ServiceType: corev1.ServiceTypeNodePort})
	m := decodeManifests(t, file(t, files, KubernetesFile).Data)
	golden := filepath.Join("testdata", "networks.kubernetes.txt")
	got := []byte(strings.Join(m.kinds, "\n") + "\n")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the objects differ from %s (go test -update to rewrite it):\n%s", golden, got)
	}

	for _, n := range top.Nodes {
		d := m.deployments[n.Name]
		if d == nil || *d.Spec.Replicas != 1 || d.Namespace != "demo" {
			t.Fatalf("deployment of %s: %+v", n.Name, d)
		}
		c := d.Spec.Template.Spec.Containers[0]
		want := "apply --engine --node " + n.Name + " /run/secrets/topology.hcl"
		if len(n.Decl.Execs) > 0 {
			want = "apply --engine --external-execs --node " + n.Name + " /run/secrets/topology.hcl"
		}
		if got := strings.Join(c.Args, " "); got != want {
			t.Errorf("%s runs %q, want %q", n.Name, got, want)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil || !slices.Equal(c.ReadinessProbe.Exec.Command, []string{"/ockamtop", "status", "--node", n.Name}) {
			t.Errorf("%s's readiness: %+v", n.Name, c.ReadinessProbe)
		}
		// Its own identity with its key, the others' public ones.
		var paths []string
		for _, src := range d.Spec.Template.Spec.Volumes[0].Projected.Sources {
			for _, item := range src.Secret.Items {
				paths = append(paths, src.Secret.Name+":"+item.Path)
			}
		}
		if !slices.Contains(paths, "ockamtop-identity-"+n.Name+":"+n.Name+".identity") || len(paths) != len(top.Nodes)+1 {
			t.Errorf("%s projects %v", n.Name, paths)
		}
	}
	if s := m.services["n2"]; s == nil || s.Spec.Ports[0].Port != 7000 {
		t.Errorf("n2's service: %+v", s)
	}
	if s := m.services["n1-web"]; s == nil || s.Spec.Type != corev1.ServiceTypeNodePort || s.Spec.Ports[0].Port != 6000 {
		t.Errorf("the inlet's service: %+v", s)
	}
	if _, ok := m.services["n1"]; ok {
		t.Error("n1, which does not listen, has a service")
	}
	// n3 lets in the pods of factory, where n2 is, and not those of
	// office, where n1 is.
	p := m.policies["ockamtop-n3"]
	if p == nil || len(p.Spec.Ingress) != 1 || p.Spec.Ingress[0].From[0].PodSelector.MatchLabels["ockamtop.io/network-factory"] != "true" {
		t.Errorf("n3's policy: %+v", p)
	}
	if deny := m.policies["ockamtop-deny-all"]; deny == nil || len(deny.Spec.Ingress) != 0 {
		t.Errorf("no default deny: %+v", deny)
	}
	if f := file(t, files, KubernetesFile); f.Mode != 0o600 {
		t.Errorf("the manifests hold secret keys, with mode %v", f.Mode)
	}
}

// An exec is a container of its node's pod, in the node's network
// namespace, running the exec's command from the image; the node's apply
// starts no exec then, and waits for its wait_for.
func TestKubernetesExecs(t *testing.T) {
	files, top := exportKubernetesFile(t, filepath.Join("testdata", "engine.hcl"), KubernetesOptions{Options: Options{Image: "web:1"}})
	m := decodeManifests(t, file(t, files, KubernetesFile).Data)
	for _, n := range top.Nodes {
		cs := m.deployments[n.Name].Spec.Template.Spec.Containers
		wantArgs := "apply --engine --node " + n.Name + " /run/secrets/topology.hcl"
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if n.Name == "n3" {
			wantArgs = "apply --engine --external-execs --node n3 /run/secrets/topology.hcl"
			if !slices.Equal(names, []string{"node", "exec-web"}) {
				t.Fatalf("n3's containers: %v", names)
			}
			web := cs[1]
			if !slices.Equal(web.Command, []string{"/web", "-serve", "127.0.0.1:9000"}) || len(web.Args) != 0 || web.Image != "web:1" {
				t.Errorf("the exec's container: %+v", web)
			}
		} else if !slices.Equal(names, []string{"node"}) {
			t.Errorf("%s's containers: %v", n.Name, names)
		}
		if got := strings.Join(cs[0].Args, " "); got != wantArgs {
			t.Errorf("%s runs %q, want %q", n.Name, got, wantArgs)
		}
	}
}

// Names Kubernetes cannot give a Service are refused, at the node.
func TestKubernetesNames(t *testing.T) {
	top, _, diags := topology.Load("names.hcl", []byte(`node "N_1" {}`), schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if d := CheckKubernetes(top); !d.HasErrors() || !strings.Contains(d.Error(), "Node name is no Service name") {
		t.Errorf("N_1: %v", d)
	}
	top, _, diags = topology.Load("names.hcl", []byte(`node "n1" {
  exec "web_1" { command = ["/web"] }
}`), schema.Overrides{Engine: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if d := CheckKubernetes(top); !d.HasErrors() || !strings.Contains(d.Error(), `exec "web_1" of node "n1" is a container of its pod, "exec-web_1"`) {
		t.Errorf("web_1: %v", d)
	}
}

// A node's other TCP listeners are ports of its pod and of its Service,
// beside its own.
func TestKubernetesTCPListeners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "listeners.hcl")
	if err := os.WriteFile(path, []byte(`node "n2" {
  tcp_listener  = "127.0.0.1:7000"
  tcp_listeners = ["127.0.0.1:7001", "127.0.0.2:7002"]
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	files, _ := exportKubernetesFile(t, path, KubernetesOptions{})
	m := decodeManifests(t, file(t, files, KubernetesFile).Data)
	var pod, svc []string
	for _, p := range m.deployments["n2"].Spec.Template.Spec.Containers[0].Ports {
		pod = append(pod, p.Name+" "+strconv.Itoa(int(p.ContainerPort)))
	}
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			svc = append(svc, p.Name+" "+strconv.Itoa(int(p.Port)))
		}
	}
	want := []string{"listener 7000", "listener-7001 7001", "listener-7002 7002"}
	if !slices.Equal(pod, want) || !slices.Equal(svc, want) {
		t.Errorf("pod ports %q, service ports %q, want %q", pod, svc, want)
	}
}
