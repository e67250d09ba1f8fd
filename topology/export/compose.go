package export

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// The Compose file: the parts of the Compose specification that both
// Debian's `docker stack deploy` (20.10, file format 3.8) and
// `docker-compose` (1.29) run, and that a Swarm without IPVS carries:
// services reached by DNS round robin (endpoint_mode dnsrr), ports
// published in host mode, files delivered as secrets (configs with
// content are refused by the one and ignored by the other).

// ComposeFile is the name of the Compose file among the export's files.
const ComposeFile = "compose.yaml"

type composeProject struct {
	Version  string                    `yaml:"version"`
	Services map[string]composeService `yaml:"services"`
	Networks map[string]composeNetwork `yaml:"networks"`
	Secrets  map[string]composeSecret  `yaml:"secrets"`
}

type composeService struct {
	Image       string             `yaml:"image"`
	Hostname    string             `yaml:"hostname"`
	Command     []string           `yaml:"command"`
	Environment map[string]string  `yaml:"environment"`
	Networks    []string           `yaml:"networks"`
	Ports       []composePort      `yaml:"ports,omitempty"`
	Secrets     []composeSecretRef `yaml:"secrets"`
	Healthcheck composeHealthcheck `yaml:"healthcheck"`
	Restart     string             `yaml:"restart"`
	Deploy      composeDeploy      `yaml:"deploy"`
}

type composePort struct {
	Target    int    `yaml:"target"`
	Published int    `yaml:"published"`
	Protocol  string `yaml:"protocol"`
	Mode      string `yaml:"mode"`
}

type composeSecretRef struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	Mode   int    `yaml:"mode"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

type composeDeploy struct {
	EndpointMode  string               `yaml:"endpoint_mode"`
	RestartPolicy composeRestartPolicy `yaml:"restart_policy"`
}

type composeRestartPolicy struct {
	Condition string `yaml:"condition"`
	Delay     string `yaml:"delay"`
}

type composeNetwork struct {
	IPAM *composeIPAM `yaml:"ipam,omitempty"`
}

type composeIPAM struct {
	Config []composeSubnet `yaml:"config"`
}

type composeSubnet struct {
	Subnet string `yaml:"subnet"`
}

type composeSecret struct {
	File string `yaml:"file"`
}

// Compose exports t, planned for an engine from srcs, as a Compose
// project: the Compose file, the topology the nodes run, and their
// identities.
func Compose(t *topology.Topology, srcs []schema.Source, ids Identities, o Options) ([]File, error) {
	if diags := Check(t); diags.HasErrors() {
		return nil, diags
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	top, err := Topology(srcs)
	if err != nil {
		return nil, err
	}
	files, err := identityFiles(t, ids)
	if err != nil {
		return nil, err
	}
	p := composeProject{
		Version:  "3.8",
		Services: map[string]composeService{},
		Networks: map[string]composeNetwork{},
		Secrets:  map[string]composeSecret{"topology": {File: "./" + topologyFile}},
	}
	for _, n := range t.Nodes {
		p.Secrets[n.Name+"_identity"] = composeSecret{File: "./" + identityFile(n.Name)}
		p.Secrets[n.Name+"_public"] = composeSecret{File: "./" + publicFile(n.Name)}
		for _, nw := range n.EngineNetworks() {
			p.Networks[nw] = composeNetwork{}
		}
	}
	for _, nw := range t.Networks {
		if nw.Decl.Subnet != nil {
			p.Networks[nw.Name] = composeNetwork{IPAM: &composeIPAM{Config: []composeSubnet{{Subnet: nw.Decl.Subnet.String()}}}}
		}
	}
	for _, n := range t.Nodes {
		s := composeService{
			Image:       o.Image,
			Hostname:    n.Name,
			Command:     applyCommand(n.Name, o.Vars),
			Environment: map[string]string{"OCKAMTOP_HOME": home},
			Networks:    n.EngineNetworks(),
			Secrets:     []composeSecretRef{{Source: "topology", Target: topologyFile, Mode: 0o444}},
			// Ready once the node's apply is up: status answers for it.
			Healthcheck: composeHealthcheck{
				Test:     []string{"CMD", binary, "status", "--node", n.Name},
				Interval: "2s", Timeout: "5s", Retries: 3, StartPeriod: "60s",
			},
			Restart: "unless-stopped",
			Deploy: composeDeploy{
				EndpointMode:  "dnsrr",
				RestartPolicy: composeRestartPolicy{Condition: "any", Delay: "1s"},
			},
		}
		for _, other := range t.Nodes {
			ref := composeSecretRef{Source: other.Name + "_public", Target: other.Name + ".identity", Mode: 0o444}
			if other == n {
				ref = composeSecretRef{Source: n.Name + "_identity", Target: n.Name + ".identity", Mode: 0o400}
			}
			s.Secrets = append(s.Secrets, ref)
		}
		for _, in := range n.Inlets {
			port, err := portOf(in.From)
			if err != nil {
				return nil, fmt.Errorf("tcp_inlet %s of node %s: %w", in.Name, n.Name, err)
			}
			s.Ports = append(s.Ports, composePort{Target: port, Published: port, Protocol: "tcp", Mode: "host"})
		}
		p.Services[n.Name] = s
	}
	var data bytes.Buffer
	enc := yaml.NewEncoder(&data)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	header := []byte("# Exported by ockamtop export compose. Run it with\n#   docker stack deploy -c " + ComposeFile + " NAME\n# or\n#   docker-compose -f " + ComposeFile + " up -d\n")
	files = append(files,
		File{Path: ComposeFile, Data: append(header, data.Bytes()...), Mode: 0o644},
		File{Path: topologyFile, Data: top, Mode: 0o644})
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// applyCommand is what a node's container runs, after /ockamtop; flags
// come before the others.
func applyCommand(node string, vars []string, flags ...string) []string {
	cmd := append([]string{"apply", "--engine"}, flags...)
	cmd = append(cmd, "--node", node)
	for _, v := range vars {
		cmd = append(cmd, "--var", v)
	}
	return append(cmd, secretsDir+topologyFile)
}

// portOf is hostport's port.
func portOf(hostport string) (int, error) {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
