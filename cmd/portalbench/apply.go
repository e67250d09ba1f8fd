package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
%s}
`

// manyInlet is one of the inlets of the many-inlets run, each a portal
// to the echo server.
const manyInlet = `  tcp_inlet "many_%d" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/to_echo"
  }
`

// startOckamtop applies the topology with the real binary and returns its
// inlets' addresses, "node.inlet" -> address, once it is up.
func (b *bench) startOckamtop(bin, sink, echo, source string) (map[string]string, error) {
	var many strings.Builder
	for i := range b.opts.inlets {
		fmt.Fprintf(&many, manyInlet, i)
	}
	inlets, _, err := b.apply(bin, fmt.Sprintf(topology, sink, echo, source, max(b.opts.streams+16, 1024), many.String()))
	return inlets, err
}

// apply applies the topology hcl with the real binary and returns its TCP
// and UDP inlets' addresses, "node.inlet" -> address, once it is up.
func (b *bench) apply(bin, hcl string) (inlets, udpInlets map[string]string, err error) {
	file := filepath.Join(b.work, "portal.hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		return nil, nil, err
	}
	ready := filepath.Join(b.work, "ready.json")
	logPath := filepath.Join(b.work, "ockamtop.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "apply", "--log-level", "warn", "--http", "127.0.0.1:0", "--ready-file", ready, file)
	cmd.Env = append(os.Environ(), "OCKAMTOP_HOME="+filepath.Join(b.work, "home"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	b.ockam = p
	deadline := time.After(30 * time.Second)
	for {
		if data, err := os.ReadFile(ready); err == nil {
			var info struct {
				Inlets    map[string]string `json:"inlets"`
				UDPInlets map[string]string `json:"udp_inlets"`
				HTTP      string            `json:"http"`
			}
			if err := json.Unmarshal(data, &info); err != nil {
				return nil, nil, fmt.Errorf("ready file: %w", err)
			}
			b.metrics = info.HTTP
			return info.Inlets, info.UDPInlets, nil
		}
		select {
		case <-p.exited:
			logText, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("ockamtop apply exited: %v\n%s", p.err, logText)
		case <-deadline:
			return nil, nil, fmt.Errorf("ockamtop apply not up after 30s; its log is %s", logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
