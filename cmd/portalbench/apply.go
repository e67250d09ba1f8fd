package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// topology is the file ockamtop applies: both portal paths, to the sink
// and to the echo server.
const topology = `
node "n2" {
  tcp_listener = "127.0.0.1:0"
  tcp_inlet "sink" {
    from = "127.0.0.1:0"
    to   = "/service/forward_to_n3/service/to_sink"
  }
  tcp_inlet "echo" {
    from = "127.0.0.1:0"
    to   = "/service/forward_to_n3/service/to_echo"
  }
}

node "n3" {
  service "hop" {}
  relay "n3" {
    at = node.n2
  }
  secure_channel_listener "api" {
    trust = [node.n1]
  }
  tcp_outlet "to_sink" {
    to = %q
  }
  tcp_outlet "to_echo" {
    to = %q
  }
  tcp_outlet "to_source" {
    to = %q
  }
}

node "n1" {
  tcp_inlet "sink" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/to_sink"
  }
  tcp_inlet "echo" {
    from        = "127.0.0.1:0"
    to          = "/node/n2/service/forward_to_n3/service/hop/service/to_echo"
    max_streams = %d
  }
  tcp_inlet "source" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/to_source"
  }
  tcp_inlet "secure_source" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/hop/service/to_source"
  }
  tcp_inlet "secure_sink" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/hop/service/to_sink"
  }
  tcp_inlet "secure_echo" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/hop/service/to_echo"
  }
}
`

// startOckamtop applies the topology with the real binary and returns its
// inlets' addresses, "node.inlet" -> address, once it is up.
func (b *bench) startOckamtop(bin, sink, echo, source string) (map[string]string, error) {
	inlets, _, err := b.apply(bin, fmt.Sprintf(topology, sink, echo, source, max(b.opts.streams+16, 1024)))
	return inlets, err
}

// apply applies the topology hcl with the real binary and returns its TCP
// and UDP inlets' addresses, "node.inlet" -> address, once it is up.
func (b *bench) apply(bin, hcl string) (inlets, udpInlets map[string]string, err error) {
	p, up, err := b.applyAs(bin, "portal", hcl)
	if err != nil {
		return nil, nil, err
	}
	b.ockam = p
	return up.Inlets, up.UDPInlets, nil
}

// An ockamtop is a running `ockamtop apply`: its process, and its
// /metrics address (apply --http).
type ockamtop struct {
	*proc
	metrics string
}

// ready is what an ockamtop's ready file says.
type ready struct {
	Inlets    map[string]string `json:"inlets"`
	UDPInlets map[string]string `json:"udp_inlets"`
	HTTP      string            `json:"http"`
}

// applyAs runs `ockamtop apply` on hcl, with more arguments args (such as
// -node), as name: its topology, ready file and log are name.hcl,
// name.ready.json and name.log in the work directory. It returns once the
// ready file is written; stop ends the process.
func (b *bench) applyAs(bin, name, hcl string, args ...string) (*ockamtop, ready, error) {
	var up ready
	file := filepath.Join(b.work, name+".hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		return nil, up, err
	}
	readyPath := filepath.Join(b.work, name+".ready.json")
	logPath := filepath.Join(b.work, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, up, err
	}
	defer log.Close()
	args = append([]string{"apply", "--log-level", "warn", "--http", "127.0.0.1:0", "--ready-file", readyPath}, append(args, file)...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OCKAMTOP_HOME="+filepath.Join(b.work, "home"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return nil, up, err
	}
	p := &ockamtop{proc: &proc{cmd: cmd, exited: make(chan struct{})}}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	b.ockamtops = append(b.ockamtops, p)
	deadline := time.After(60 * time.Second)
	for {
		if data, err := os.ReadFile(readyPath); err == nil {
			if err := json.Unmarshal(data, &up); err != nil {
				return nil, up, fmt.Errorf("ready file: %w", err)
			}
			p.metrics = up.HTTP
			return p, up, nil
		}
		select {
		case <-p.exited:
			logText, _ := os.ReadFile(logPath)
			return nil, up, fmt.Errorf("ockamtop apply exited: %v\n%s", p.err, logText)
		case <-deadline:
			return nil, up, fmt.Errorf("ockamtop apply not up after 60s; its log is %s", logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
