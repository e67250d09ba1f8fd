package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The UDP benchmark (-udp): datagrams a second and MB/s of request/response
// traffic through ockamtop's 3-node UDP portal (inlet on n1 -> n2 -> n3's
// relay -> outlet on n3 -> a UDP echo server), plain and inside a secure
// channel, next to the echo server direct and to frp's `type = "udp"`
// proxy (frps and frpc, given by -frp, on loopback) in the same run; then
// the p50 and p99 of a 64-byte request/response through each, next to the
// TCP portal's over the same route. frp is built from its source, never
// kept in this repository (docs/benchmarks.md says how); without -frp its
// rows are left out.

// udpTopology is the file ockamtop applies for the UDP benchmark: the UDP
// portal, plain and secure, and a TCP portal on the same route.
const udpTopology = `
node "n2" {
  tcp_listener = "127.0.0.1:0"
}

node "n3" {
  relay "n3" {
    at = node.n2
  }
  secure_channel_listener "api" {
    trust = [node.n1]
  }
  udp_outlet "to_udp_echo" {
    to = %q
  }
  tcp_outlet "to_echo" {
    to = %q
  }
}

node "n1" {
  udp_inlet "udp" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/to_udp_echo"
  }
  udp_inlet "udp_secure" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/to_udp_echo"
  }
  tcp_inlet "echo" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/to_echo"
  }
}
`

// udpFigures are one UDP path's results over the rounds.
type udpFigures struct {
	secs     []float64 // seconds per load run
	answered []float64 // replies per load run
	sent     []float64
	p50, p99 []float64 // nanoseconds
}

func (b *bench) runUDP() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin := b.opts.ockamtop
	if bin == "" {
		if bin, err = buildOckamtop(b.work); err != nil {
			return err
		}
	}
	_, words, err := b.start(self, "udptarget")
	if err != nil {
		return err
	}
	udpEcho := words[0]
	_, addrs, err := b.start(self, "target")
	if err != nil {
		return err
	}
	tcpEcho := addrs[1]
	inlets, udpInlets, err := b.apply(bin, fmt.Sprintf(udpTopology, udpEcho, tcpEcho))
	if err != nil {
		return err
	}
	paths := []path{
		{key: "direct", name: "direct", echo: udpEcho},
		{key: "udp3", name: "ockamtop udp 3 nodes", echo: udpInlets["n1.udp"], pid: b.ockam.cmd.Process.Pid},
		{key: "udp3secure", name: "udp 3 nodes, secure", echo: udpInlets["n1.udp_secure"], pid: b.ockam.cmd.Process.Pid},
	}
	if b.opts.frp != "" {
		frp, err := b.startFRP(udpEcho)
		if err != nil {
			return err
		}
		paths = append(paths, path{key: "frp", name: "frp udp", echo: frp})
	}
	o := b.opts
	fmt.Fprintf(b.out, "portalbench -udp: %d datagrams of %d bytes a run from %d clients, %d unanswered each at most; %d round trips of 64 bytes; %d rounds (medians)\n",
		o.datagrams, o.datagramSize, o.udpClients, o.udpWindow, o.trips, o.rounds)
	results := make([]udpFigures, len(paths))
	var tcp50, tcp99 []float64
	for range o.rounds {
		for i, p := range paths {
			out, err := b.client(self, "udpload", p.echo, strconv.Itoa(o.datagrams), strconv.Itoa(o.datagramSize), strconv.Itoa(o.udpWindow), strconv.Itoa(o.udpClients))
			if err != nil {
				return fmt.Errorf("%s: load: %w", p.name, err)
			}
			var secs, answered, sent float64
			if _, err := fmt.Sscan(out, &secs, &answered, &sent); err != nil {
				return fmt.Errorf("%s: load: %q", p.name, out)
			}
			r := &results[i]
			r.secs, r.answered, r.sent = append(r.secs, secs), append(r.answered, answered), append(r.sent, sent)
			out, err = b.client(self, "udprtt", p.echo, strconv.Itoa(o.trips))
			if err != nil {
				return fmt.Errorf("%s: round trips: %w", p.name, err)
			}
			var p50, p99 float64
			if _, err := fmt.Sscan(out, &p50, &p99); err != nil {
				return fmt.Errorf("%s: round trips: %q", p.name, out)
			}
			r.p50, r.p99 = append(r.p50, p50), append(r.p99, p99)
		}
		out, err := b.client(self, "echo", inlets["n1.echo"], strconv.Itoa(o.trips))
		if err != nil {
			return fmt.Errorf("tcp portal: round trips: %w", err)
		}
		var p50, p99 float64
		if _, err := fmt.Sscan(out, &p50, &p99); err != nil {
			return fmt.Errorf("tcp portal: round trips: %q", out)
		}
		tcp50, tcp99 = append(tcp50, p50), append(tcp99, p99)
	}
	b.reportUDP(paths, results, tcp50, tcp99)
	return nil
}

// reportUDP prints each path's medians: datagrams answered a second, MB/s
// of datagrams each way, the share lost, and the round trip.
func (b *bench) reportUDP(paths []path, results []udpFigures, tcp50, tcp99 []float64) {
	w := b.out
	fmt.Fprintf(w, "%-22s %12s %9s %7s %9s %9s\n", "path", "datagrams/s", "MB/s", "lost %", "p50 µs", "p99 µs")
	rate := make([][]float64, len(paths))
	for i, p := range paths {
		r := results[i]
		var lost []float64
		for k := range r.secs {
			rate[i] = append(rate[i], r.answered[k]/r.secs[k])
			lost = append(lost, 100*(r.sent[k]-r.answered[k])/r.sent[k])
		}
		fmt.Fprintf(w, "%-22s %12.0f %9.1f %7.2f %9.1f %9.1f\n", p.name, median(rate[i]),
			median(rate[i])*float64(b.opts.datagramSize)/1e6, median(lost), median(r.p50)/1e3, median(r.p99)/1e3)
	}
	fmt.Fprintf(w, "%-22s %12s %9s %7s %9.1f %9.1f\n", "tcp portal 3 nodes", "-", "-", "-", median(tcp50)/1e3, median(tcp99)/1e3)
	for i, p := range paths {
		if p.key == "udp3" {
			fmt.Fprintf(w, "udp 3 nodes p50 / tcp portal p50: %.2fx\n", paired(results[i].p50, tcp50))
		}
	}
	for i, p := range paths {
		if p.key != "frp" {
			continue
		}
		for j, q := range paths {
			if q.key == "udp3" || q.key == "udp3secure" {
				fmt.Fprintf(w, "%s / frp udp: datagrams/s %.2fx, p50 %.2fx\n", q.name, paired(rate[j], rate[i]), paired(results[j].p50, results[i].p50))
			}
		}
	}
}

// frpServer is frps's configuration: its control port, on loopback.
const frpServer = `bindAddr = "127.0.0.1"
bindPort = %d
`

// frpClient is frpc's: one UDP proxy, frps's port remote to the echo
// server. frpc starts beside frps and tries again until frps listens.
const frpClient = `serverAddr = "127.0.0.1"
serverPort = %d
loginFailExit = false

[[proxies]]
name = "udp_echo"
type = "udp"
localIP = "127.0.0.1"
localPort = %s
remotePort = %d
`

// startFRP runs frps and frpc from the -frp directory with a UDP proxy to
// the echo server, and returns the proxy's address once it answers.
func (b *bench) startFRP(echo string) (string, error) {
	_, echoPort, err := net.SplitHostPort(echo)
	if err != nil {
		return "", err
	}
	control, err := freePort("tcp")
	if err != nil {
		return "", err
	}
	remote, err := freePort("udp")
	if err != nil {
		return "", err
	}
	for _, f := range []struct{ name, text string }{
		{"frps.toml", fmt.Sprintf(frpServer, control)},
		{"frpc.toml", fmt.Sprintf(frpClient, control, echoPort, remote)},
	} {
		if err := os.WriteFile(filepath.Join(b.work, f.name), []byte(f.text), 0o644); err != nil {
			return "", err
		}
	}
	for _, p := range []string{"frps", "frpc"} {
		log, err := os.Create(filepath.Join(b.work, p+".log"))
		if err != nil {
			return "", err
		}
		cmd := exec.Command(filepath.Join(b.opts.frp, p), "-c", filepath.Join(b.work, p+".toml"))
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = dieWithParent()
		if err := cmd.Start(); err != nil {
			log.Close()
			return "", fmt.Errorf("start %s (build it with docs/benchmarks.md's commands): %w", p, err)
		}
		log.Close()
		pr := &proc{cmd: cmd, exited: make(chan struct{})}
		go func() { pr.err = cmd.Wait(); close(pr.exited) }()
		b.procs = append(b.procs, pr)
		b.interrupt = append(b.interrupt, pr)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", remote)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if udpAnswers(addr) {
			return addr, nil
		}
	}
	return "", errors.New("frp's UDP proxy did not answer within 30s; its logs are frps.log and frpc.log in the work directory (-keep)")
}

// udpAnswers reports whether a datagram to addr is answered within
// 200ms; it waits that long when nothing listens there yet.
func udpAnswers(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 64)); err == nil {
			return true
		}
	}
	time.Sleep(200*time.Millisecond - time.Since(start)) // an ICMP refusal comes at once: wait out the rest
	return false
}

// freePort is a loopback port free a moment ago.
func freePort(network string) (int, error) {
	switch network {
	case "udp":
		pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port, nil
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
}
