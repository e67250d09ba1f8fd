package export

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// k8sapi is the script that runs a real kube-apiserver and etcd on
// loopback (see ../shared/KUBERNETES.md): objects are validated, defaulted
// and stored as a cluster's API would, and no pod runs.
const k8sapi = "../../../shared/k8s/k8sapi"

// A real Kubernetes API server takes the export of each example that an
// engine can run, and gives back what was applied.
func TestKubernetesAPIServerTakesTheExports(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts etcd and kube-apiserver")
	}
	bin := os.Getenv("K8SBIN")
	if bin == "" {
		bin = "/tmp/k8sbin"
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("no %s in %s: build them with %s build (about 10 minutes once)", b, bin, k8sapi)
		}
	}
	if _, err := os.Stat(k8sapi); err != nil {
		t.Skipf("no %s: %v", k8sapi, err)
	}
	if out, err := exec.Command(k8sapi, "up").CombinedOutput(); err != nil {
		t.Fatalf("%s up: %v\n%s", k8sapi, err, out)
	}
	t.Cleanup(func() { _ = exec.Command(k8sapi, "down").Run() })
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(k8sapi, append([]string{"kubectl"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, name := range []string{"relay", "bridge", "networks"} {
		t.Run(name, func(t *testing.T) {
			ns := "ockamtop-" + name
			files, top := exportKubernetes(t, name, KubernetesOptions{Namespace: ns})
			path := filepath.Join(t.TempDir(), KubernetesFile)
			if err := os.WriteFile(path, file(t, files, KubernetesFile).Data, 0o600); err != nil {
				t.Fatal(err)
			}
			kubectl("create", "namespace", ns)
			kubectl("apply", "-f", path)
			var deployments struct {
				Items []struct {
					Metadata struct{ Name string }
					Spec     struct {
						Template struct {
							Spec corev1.PodSpec
						}
					}
				}
			}
			if err := json.Unmarshal([]byte(kubectl("-n", ns, "get", "deployments", "-o", "json")), &deployments); err != nil {
				t.Fatal(err)
			}
			if len(deployments.Items) != len(top.Nodes) {
				t.Fatalf("%d deployments for %d nodes", len(deployments.Items), len(top.Nodes))
			}
			for _, d := range deployments.Items {
				c := d.Spec.Template.Spec.Containers[0]
				if c.ReadinessProbe == nil || c.Args[len(c.Args)-1] != "/run/secrets/topology.hcl" {
					t.Errorf("deployment %s as stored: %+v", d.Metadata.Name, c)
				}
			}
			policies := kubectl("-n", ns, "get", "networkpolicies", "-o", "name")
			if !strings.Contains(policies, "networkpolicy.networking.k8s.io/ockamtop-deny-all") {
				t.Errorf("network policies: %s", policies)
			}
			kubectl("delete", "namespace", ns, "--wait=false")
		})
	}
}
