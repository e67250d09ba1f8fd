package export

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// On Kubernetes a node is a Deployment of one replica whose pod is
// labelled with the node's name and its networks; a node that listens
// has a Service of its name, so that other pods dial it as NAME:PORT; an
// inlet has a Service of the type KubernetesOptions.ServiceType; the
// topology and the identities are Secrets, projected into each pod as the
// Compose export delivers them. The networks are NetworkPolicies: one
// denies every ingress to the topology's pods, and one a node lets in the
// pods that share a network with it, and anyone at its inlets.

// KubernetesFile is the name of the manifests among the export's files.
const KubernetesFile = "kubernetes.yaml"

// Labels of the exported objects.
const (
	labelApp     = "app.kubernetes.io/name"
	labelPartOf  = "app.kubernetes.io/part-of"
	labelNode    = "ockamtop.io/node"
	labelNetwork = "ockamtop.io/network-"
	appName      = "ockamtop"
)

// KubernetesOptions are Options and what only Kubernetes takes.
type KubernetesOptions struct {
	Options
	// Namespace holds every object ("default").
	Namespace string
	// ServiceType is the type of an inlet's Service (ClusterIP).
	ServiceType corev1.ServiceType
	// Project names the objects' part-of label ("ockamtop").
	Project string
}

// Kubernetes exports t, planned for an engine from srcs, as manifests for
// kubectl apply -f, with the identities they hold.
func Kubernetes(t *topology.Topology, srcs []schema.Source, ids Identities, o KubernetesOptions) ([]File, error) {
	if diags := append(Check(t), CheckKubernetes(t)...); diags.HasErrors() {
		return nil, diags
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.ServiceType == "" {
		o.ServiceType = corev1.ServiceTypeClusterIP
	}
	if o.Project == "" {
		o.Project = appName
	}
	top, err := Topology(srcs)
	if err != nil {
		return nil, err
	}
	files, err := identityFiles(t, ids)
	if err != nil {
		return nil, err
	}
	k := kube{o: o}
	public := map[string][]byte{}
	for _, n := range t.Nodes {
		public[n.Name+".identity"] = ids[n.Name].Public().MarshalFile()
	}
	objs := []any{
		k.secret(o.Project+"-topology", map[string][]byte{topologyFile: top}),
		k.secret(o.Project+"-public-identities", public),
		k.denyAll(),
	}
	for _, n := range t.Nodes {
		objs = append(objs, k.secret(k.identitySecret(n.Name), map[string][]byte{n.Name + ".identity": ids[n.Name].MarshalFile()}))
		objs = append(objs, k.deployment(t, n))
		if svc := k.nodeService(n); svc != nil {
			objs = append(objs, svc)
		}
		for _, in := range n.Inlets {
			svc, err := k.inletService(n, in)
			if err != nil {
				return nil, err
			}
			objs = append(objs, svc)
		}
		objs = append(objs, k.policy(n))
	}
	var out bytes.Buffer
	out.WriteString("# Exported by ockamtop export kubernetes. Apply it with\n#   kubectl apply -f " + KubernetesFile + "\n")
	for _, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	files = append(files, File{Path: KubernetesFile, Data: out.Bytes(), Mode: 0o600}) // it holds the secret keys
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

type kube struct{ o KubernetesOptions }

func (k kube) meta(name string, labels map[string]string) metav1.ObjectMeta {
	all := map[string]string{labelApp: appName, labelPartOf: k.o.Project}
	for key, v := range labels {
		all[key] = v
	}
	return metav1.ObjectMeta{Name: name, Namespace: k.o.Namespace, Labels: all}
}

// objectName is a node's or a network's name as a Kubernetes object name
// and label value: the name itself, which CheckKubernetes holds to a DNS
// label, so that the Service of a node named n2 answers to n2.
func objectName(s string) string { return s }

// dnsLabel is what Kubernetes takes as a Service name (RFC 1035).
var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// CheckKubernetes refuses the names Kubernetes cannot give a node's
// Service or a network's label.
func CheckKubernetes(t *topology.Topology) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, n := range t.Nodes {
		if !dnsLabel.MatchString(n.Name) {
			diags = append(diags, schema.ErrorAt(n.Decl.NameRange, "Node name is no Service name",
				"On Kubernetes node %q is dialed through a Service of its name, which must be a DNS label: lower-case letters, digits and '-', starting with a letter, at most 63.", n.Name))
		}
	}
	for _, n := range t.Nodes {
		for _, x := range n.Decl.Execs {
			if name := execContainerName(x.Name); !dnsLabel.MatchString(name) {
				diags = append(diags, schema.ErrorAt(x.NameRange, "Exec name is no container name",
					"On Kubernetes exec %q of node %q is a container of its pod, %q, whose name must be lower-case letters, digits and '-', at most 63.", x.Name, n.Name, name))
			}
		}
	}
	for _, nw := range t.Networks {
		if !dnsLabel.MatchString(nw.Name) || len(labelNetwork+nw.Name) > 63+len("ockamtop.io/") {
			diags = append(diags, schema.ErrorAt(nw.Decl.DeclRange, "Network name is no label",
				"On Kubernetes network %q is a label of the pods on it, whose name must be lower-case letters, digits and '-', starting with a letter, at most 55.", nw.Name))
		}
	}
	return diags
}

func (k kube) identitySecret(node string) string {
	return k.o.Project + "-identity-" + objectName(node)
}

func (k kube) secret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: k.meta(name, nil),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// podLabels are a node's pod's: its name, and each network it is on.
func (k kube) podLabels(n *topology.Node) map[string]string {
	labels := map[string]string{labelNode: objectName(n.Name)}
	for _, nw := range n.EngineNetworks() {
		labels[labelNetwork+objectName(nw)] = "true"
	}
	return labels
}

func (k kube) deployment(t *topology.Topology, n *topology.Node) *appsv1.Deployment {
	one := int32(1)
	ro := int32(0o444)
	own := int32(0o400)
	var publicItems []corev1.KeyToPath
	for _, other := range t.Nodes {
		if other != n {
			publicItems = append(publicItems, corev1.KeyToPath{Key: other.Name + ".identity", Path: other.Name + ".identity", Mode: &ro})
		}
	}
	sources := []corev1.VolumeProjection{
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: k.o.Project + "-topology"},
			Items: []corev1.KeyToPath{{Key: topologyFile, Path: topologyFile, Mode: &ro}}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: k.identitySecret(n.Name)},
			Items: []corev1.KeyToPath{{Key: n.Name + ".identity", Path: n.Name + ".identity", Mode: &own}}}},
	}
	if len(publicItems) > 0 {
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: k.o.Project + "-public-identities"}, Items: publicItems}})
	}
	var ports []corev1.ContainerPort
	if n.Listener != "" {
		if p, err := portOf(n.Listener); err == nil {
			ports = append(ports, corev1.ContainerPort{Name: "listener", ContainerPort: int32(p), Protocol: corev1.ProtocolTCP})
		}
	}
	for _, l := range n.TCPListeners {
		if p, err := portOf(l); err == nil {
			ports = append(ports, corev1.ContainerPort{Name: moreListenerPort(p), ContainerPort: int32(p), Protocol: corev1.ProtocolTCP})
		}
	}
	if n.UDPListener != "" {
		if p, err := portOf(n.UDPListener); err == nil {
			ports = append(ports, corev1.ContainerPort{Name: "udp-listener", ContainerPort: int32(p), Protocol: corev1.ProtocolUDP})
		}
	}
	for _, in := range n.Inlets {
		if p, err := portOf(in.From); err == nil {
			ports = append(ports, corev1.ContainerPort{ContainerPort: int32(p), Protocol: corev1.ProtocolTCP})
		}
	}
	args := applyCommand(n.Name, k.o.Vars)
	if len(n.Decl.Execs) > 0 {
		// Each exec is a container of the pod: the node waits for it.
		args = applyCommand(n.Name, k.o.Vars, "--external-execs")
	}
	labels := k.podLabels(n)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: k.meta(objectName(n.Name), labels),
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelPartOf: k.o.Project, labelNode: objectName(n.Name)}},
			// One node, one process: the old pod goes before the new one
			// comes, as a node's identity and listener are its own.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: k.meta("", labels).Labels},
				Spec: corev1.PodSpec{
					Hostname: objectName(n.Name),
					Containers: append([]corev1.Container{{
						Name:  "node",
						Image: k.o.Image,
						Args:  args,
						Env:   []corev1.EnvVar{{Name: "OCKAMTOP_HOME", Value: home}},
						Ports: ports,
						VolumeMounts: []corev1.VolumeMount{{
							Name: "ockamtop", MountPath: strings.TrimSuffix(secretsDir, "/"), ReadOnly: true,
						}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{binary, "status", "--node", n.Name}}},
							PeriodSeconds: 2, TimeoutSeconds: 5, FailureThreshold: 3,
						},
						ImagePullPolicy: corev1.PullIfNotPresent,
					}}, k.execContainers(n)...),
					Volumes: []corev1.Volume{{
						Name:         "ockamtop",
						VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}},
					}},
				},
			},
		},
	}
}

// execContainers are a node's execs, each a container of its pod (so in
// its network namespace: 127.0.0.1 is the node's), running the exec's
// command in the image, which must hold its program.
func (k kube) execContainers(n *topology.Node) []corev1.Container {
	var out []corev1.Container
	for _, x := range n.Decl.Execs {
		cmd := make([]string, len(x.Command))
		for i, a := range x.Command {
			cmd[i] = a.Value
		}
		out = append(out, corev1.Container{
			Name:            execContainerName(x.Name),
			Image:           k.o.Image,
			Command:         cmd,
			ImagePullPolicy: corev1.PullIfNotPresent,
		})
	}
	return out
}

// execContainerName names an exec's container: "exec-NAME", a DNS label.
func execContainerName(exec string) string {
	return objectName("exec-" + exec)
}

// moreListenerPort names the port of one of a node's tcp_listeners, in a
// pod and its service: "listener-7001" (a port's name is at most 15
// characters).
func moreListenerPort(port int) string { return fmt.Sprintf("listener-%d", port) }

// nodeService makes a listening node reachable as NAME:PORT; nil for a
// node that does not listen.
func (k kube) nodeService(n *topology.Node) *corev1.Service {
	var ports []corev1.ServicePort
	if n.Listener != "" {
		if p, err := portOf(n.Listener); err == nil {
			ports = append(ports, corev1.ServicePort{Name: "listener", Port: int32(p), TargetPort: intstr.FromInt32(int32(p)), Protocol: corev1.ProtocolTCP})
		}
	}
	for _, l := range n.TCPListeners {
		if p, err := portOf(l); err == nil {
			ports = append(ports, corev1.ServicePort{Name: moreListenerPort(p), Port: int32(p), TargetPort: intstr.FromInt32(int32(p)), Protocol: corev1.ProtocolTCP})
		}
	}
	if n.UDPListener != "" {
		if p, err := portOf(n.UDPListener); err == nil {
			ports = append(ports, corev1.ServicePort{Name: "udp-listener", Port: int32(p), TargetPort: intstr.FromInt32(int32(p)), Protocol: corev1.ProtocolUDP})
		}
	}
	if len(ports) == 0 {
		return nil
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: k.meta(objectName(n.Name), map[string]string{labelNode: objectName(n.Name)}),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelPartOf: k.o.Project, labelNode: objectName(n.Name)},
			Ports:    ports,
		},
	}
}

// inletService publishes an inlet as a Service NODE-INLET.
func (k kube) inletService(n *topology.Node, in *topology.Inlet) (*corev1.Service, error) {
	p, err := portOf(in.From)
	if err != nil {
		return nil, fmt.Errorf("tcp_inlet %s of node %s: %w", in.Name, n.Name, err)
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: k.meta(objectName(n.Name+"-"+in.Name), map[string]string{labelNode: objectName(n.Name)}),
		Spec: corev1.ServiceSpec{
			Type:     k.o.ServiceType,
			Selector: map[string]string{labelPartOf: k.o.Project, labelNode: objectName(n.Name)},
			Ports:    []corev1.ServicePort{{Name: "inlet", Port: int32(p), TargetPort: intstr.FromInt32(int32(p)), Protocol: corev1.ProtocolTCP}},
		},
	}, nil
}

// denyAll lets nothing in to the topology's pods: each node's policy
// then lets in what its networks and inlets allow.
func (k kube) denyAll() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: k.meta(k.o.Project+"-deny-all", nil),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{labelPartOf: k.o.Project}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// policy lets in to a node's pod the pods on a network it is on, and
// anyone at its inlets' ports.
func (k kube) policy(n *topology.Node) *networkingv1.NetworkPolicy {
	var rules []networkingv1.NetworkPolicyIngressRule
	for _, nw := range n.EngineNetworks() {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{labelPartOf: k.o.Project, labelNetwork + objectName(nw): "true"}}}},
		})
	}
	tcp := corev1.ProtocolTCP
	for _, in := range n.Inlets {
		if p, err := portOf(in.From); err == nil {
			port := intstr.FromInt32(int32(p))
			rules = append(rules, networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}})
		}
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: k.meta(k.o.Project+"-"+objectName(n.Name), map[string]string{labelNode: objectName(n.Name)}),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{labelPartOf: k.o.Project, labelNode: objectName(n.Name)}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}
