package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/export"
)

var exportCommand = &command{
	name:    "export",
	args:    "compose|kubernetes FILE|DIR",
	short:   "Write a topology for Docker Compose, Swarm or Kubernetes",
	summary: "Write a topology for a container engine, one container a node, into a directory: a Compose file that docker stack deploy and docker-compose run, or manifests for kubectl apply -f, with the topology and the nodes' identities (docs/engines.md).",
	words:   []string{"compose", "kubernetes"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		f := fileFlags{forEngine: true}
		f.register(fs)
		out := fs.String("out", "ockamtop-export", "the `DIR` to write into (made if missing; identities already there are kept)")
		image := fs.String("image", export.DefaultImage, "the `IMAGE` that runs each node: ockamtop at /ockamtop, and the programs of its exec blocks")
		namespace := fs.String("namespace", "default", "kubernetes: the `NAMESPACE` of every object")
		serviceType := fs.String("service-type", "ClusterIP", "kubernetes: the `TYPE` of each inlet's Service: ClusterIP, NodePort or LoadBalancer")
		pos, err := parseArgs(c, fs, args, 2, 2)
		if err != nil {
			return err
		}
		if pos[0] != "compose" && pos[0] != "kubernetes" {
			fmt.Fprintf(c.stderr, "ockamtop export: unknown engine %q (want compose or kubernetes)\n", pos[0])
			return errUsage
		}
		switch *serviceType {
		case "ClusterIP", "NodePort", "LoadBalancer":
		default:
			fmt.Fprintf(c.stderr, "ockamtop export: --service-type %q: want ClusterIP, NodePort or LoadBalancer\n", *serviceType)
			return errUsage
		}
		t, files, diags, err := c.loadDiagnostics(pos[1], &f)
		if err != nil {
			fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
			return errInvalid
		}
		if t != nil {
			diags = append(diags, export.Check(t)...)
			if pos[0] == "kubernetes" {
				diags = append(diags, export.CheckKubernetes(t)...)
			}
		}
		if len(diags) > 0 {
			writeDiagnostics(c.stderr, diags, files, f.compact)
		}
		if t == nil || diags.HasErrors() {
			return errInvalid
		}
		srcs, err := readSources(pos[1])
		if err != nil {
			return err
		}
		ids, made, err := exportIdentities(t, *out)
		if err != nil {
			return err
		}
		opts := export.Options{Image: *image, Vars: f.vars}
		var written []export.File
		if pos[0] == "kubernetes" {
			written, err = export.Kubernetes(t, srcs, ids, export.KubernetesOptions{Options: opts, Namespace: *namespace, ServiceType: corev1.ServiceType(*serviceType)})
		} else {
			written, err = export.Compose(t, srcs, ids, opts)
		}
		if err != nil {
			return err
		}
		for _, file := range written {
			if err := writeExported(*out, file); err != nil {
				return err
			}
		}
		if pos[0] == "kubernetes" {
			fmt.Fprintf(c.stdout, "✔ wrote %s: %s, identities of %d nodes (%d new)\n", *out, export.KubernetesFile, len(t.Nodes), made)
			fmt.Fprintf(c.stdout, "Apply it:   kubectl apply -f %s\n", filepath.Join(*out, export.KubernetesFile))
			fmt.Fprintf(c.stdout, "Follow it:  kubectl -n %s get pods -l app.kubernetes.io/part-of=ockamtop (ready: the node's apply is up), kubectl -n %s exec deploy/NODE -- /ockamtop status\n", *namespace, *namespace)
			return nil
		}
		fmt.Fprintf(c.stdout, "✔ wrote %s: %s, %s, identities of %d nodes (%d new)\n",
			*out, export.ComposeFile, "topology.hcl", len(t.Nodes), made)
		fmt.Fprintf(c.stdout, "Run it on a Swarm:  docker stack deploy -c %s NAME\n", filepath.Join(*out, export.ComposeFile))
		fmt.Fprintf(c.stdout, "or with Compose:    docker-compose -f %s up -d\n", filepath.Join(*out, export.ComposeFile))
		fmt.Fprintf(c.stdout, "Follow it:          docker ps (each node's health is its status), docker exec CONTAINER /ockamtop status\n")
		return nil
	},
}

// exportIdentities gives every node an identity with its secret key: the
// node's identity file, or the one an earlier export of dir made, or a
// new one, written there. made counts the new ones.
func exportIdentities(t *topology.Topology, dir string) (export.Identities, int, error) {
	ids := export.Identities{}
	made := 0
	if err := os.MkdirAll(filepath.Join(dir, "identities"), 0o700); err != nil {
		return nil, 0, err
	}
	for _, n := range t.Nodes {
		if id := n.LoadedIdentity; id != nil {
			if !id.HasSecret() {
				return nil, 0, fmt.Errorf("node %s: its identity file %s holds no secret key, and its container needs one", n.Name, n.Identity)
			}
			ids[n.Name] = id
			continue
		}
		path := filepath.Join(dir, "identities", n.Name+".identity")
		id, err := secure.LoadIdentity(path)
		if errors.Is(err, fs.ErrNotExist) {
			id, err = secure.CreateIdentityFile(path, time.Now())
			made++
		}
		if err != nil {
			return nil, 0, fmt.Errorf("node %s: %w", n.Name, err)
		}
		ids[n.Name] = id
	}
	return ids, made, nil
}

// writeExported writes one file of an export under dir.
func writeExported(dir string, f export.File) error {
	path := filepath.Join(dir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomicMode(path, f.Data, f.Mode)
}
