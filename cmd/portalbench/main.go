// Command portalbench measures ockamtop's portals as users see them: the
// real ockamtop binary runs the portal, and the client, the sink and the
// echo server are processes of their own. It prints each path next to a
// direct loopback baseline measured in the same run:
//
//	go run ./cmd/portalbench
//
// The paths:
//
//   - direct: the client talks to the sink and echo server itself;
//   - io.Copy chain xN: N plain forwarders chained in one process, the
//     floor of carrying a TCP stream through as many socket crossings as
//     the portal below it;
//   - ockamtop 3 nodes: the seeds' portal, inlet on n1 -> n2 -> n3's relay
//     -> hop -> outlet on n3;
//   - ockamtop 2 nodes: a reverse tunnel's shape, the inlet on the relay
//     node n2 -> n3's relay -> outlet on n3;
//   - 3 nodes, secure: the 3-node portal inside a secure channel from n1
//     to a listener on n3.
//
// Throughput is one stream of -size MiB; the round trip is 64 bytes to an
// echo server, p50 and p99 over -trips; CPU is ockamtop's user+sys seconds
// per GiB carried (and the chain's). -streams N then holds N idle streams open on one inlet
// and reports ockamtop's memory per stream.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		if role, ok := roles[os.Args[1]]; ok {
			if err := role(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "portalbench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "portalbench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	ockamtop string
	sizeMiB  int
	write    int
	trips    int
	rounds   int
	streams  int
	keep     bool
	paths    string
	// fair is how many streams download at once through one portal in
	// the fairness run (0: skip it), fairSecure how many inside one
	// secure channel, fairMiB how much each downloads.
	fair, fairSecure, fairMiB int
	// inlets is how many more inlets n1 has for the many-inlets run
	// (0: skip it), inletStreams how many idle streams each holds.
	inlets, inletStreams int
	// udp runs the UDP benchmark (udp.go) instead, with frp's binaries
	// from the directory frp ("": without frp); datagrams of
	// datagramSize bytes a run, from udpClients sockets with udpWindow
	// unanswered each.
	udp                                            bool
	frp                                            string
	datagrams, datagramSize, udpWindow, udpClients int
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("portalbench", flag.ContinueOnError)
	fs.StringVar(&o.ockamtop, "ockamtop", "", "the ockamtop binary to measure (default: build ./cmd/ockamtop)")
	fs.IntVar(&o.sizeMiB, "size", 1024, "MiB per throughput run")
	fs.IntVar(&o.write, "write", 256<<10, "the client's write size in bytes")
	fs.IntVar(&o.trips, "trips", 20000, "64-byte round trips per run")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each path's figure is the median over them")
	fs.IntVar(&o.streams, "streams", 9000, "idle streams to hold open on one inlet for the memory figure (0: skip)")
	fs.IntVar(&o.inlets, "inlets", 1000, "inlets on one node for the many-inlets memory figure (0: skip)")
	fs.IntVar(&o.inletStreams, "inlet-streams", 10, "idle streams to hold open on each of those inlets")
	fs.IntVar(&o.fair, "fair", 64, "streams downloading at once through one portal, for the fairness figures (0: skip)")
	fs.IntVar(&o.fairSecure, "fair-secure", 8, "streams downloading at once inside one secure channel")
	fs.IntVar(&o.fairMiB, "fair-size", 64, "MiB each stream of the fairness run downloads")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (topology, ockamtop's log)")
	fs.BoolVar(&o.udp, "udp", false, "run the UDP portal benchmark instead (docs/benchmarks.md)")
	fs.StringVar(&o.frp, "frp", "", "with -udp: the directory of the frps and frpc binaries to compare with (\"\": leave frp out)")
	fs.IntVar(&o.datagrams, "datagrams", 200000, "with -udp: datagrams a load run")
	fs.IntVar(&o.datagramSize, "datagram-size", 1024, "with -udp: bytes a datagram")
	fs.IntVar(&o.udpWindow, "udp-window", 32, "with -udp: unanswered datagrams a client has at most")
	fs.IntVar(&o.udpClients, "udp-clients", 8, "with -udp: client sockets sending at once")
	fs.StringVar(&o.paths, "paths", "direct,chain3,portal3,sealed3,secure3,chain2,portal2", "the paths to measure, in order; direct is always measured first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || o.sizeMiB < 1 || o.write < 1 || o.trips < 1 || o.rounds < 1 || o.streams < 0 || o.inlets < 0 || o.inletStreams < 1 || o.fair < 0 || o.fairSecure < 0 || o.fairMiB < 1 ||
		o.datagrams < 1 || o.datagramSize < 1 || o.datagramSize > 65507 || o.udpWindow < 1 || o.udpClients < 1 {
		return errors.New("usage: portalbench [-size MiB] [-write BYTES] [-trips N] [-rounds N] [-streams N] [-ockamtop PATH]")
	}
	work, err := os.MkdirTemp("", "portalbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	b := &bench{opts: o, work: work, out: out}
	defer b.stop()
	if o.udp {
		return b.runUDP()
	}
	return b.run()
}

// bench is one run: its processes and its results.
type bench struct {
	opts  options
	work  string
	out   io.Writer
	procs []*proc
	// interrupt are the processes of procs that end on an interrupt, not
	// when their stdin closes (frp's).
	interrupt []*proc
	// ockam is the ockamtop that runs the portals, one of ockamtops, every
	// ockamtop apply started.
	ockam     *ockamtop
	ockamtops []*ockamtop
}

// A path is one way from the client to the sink and the echo server.
type path struct {
	key        string // its name in -paths
	name       string
	sink, echo string
	// pid is the process that carries it, whose CPU time is measured; 0
	// for the direct path.
	pid int
}

// figures are one path's results over the rounds.
type figures struct {
	secs, cpu []float64 // seconds per throughput run, ockamtop CPU seconds
	p50, p99  []float64 // nanoseconds
}

func (b *bench) run() error {
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
	_, addrs, err := b.start(self, "target")
	if err != nil {
		return err
	}
	sink, echo, source := addrs[0], addrs[1], addrs[2]
	c3, chain3, err := b.start(self, "chain", "3", sink, echo)
	if err != nil {
		return err
	}
	c2, chain2, err := b.start(self, "chain", "2", sink, echo)
	if err != nil {
		return err
	}
	cs, sealed3, err := b.start(self, "sealed", sink, echo)
	if err != nil {
		return err
	}
	inlets, err := b.startOckamtop(bin, sink, echo, source)
	if err != nil {
		return err
	}
	paths := []path{
		{key: "direct", name: "direct", sink: sink, echo: echo},
		{key: "chain3", name: "io.Copy chain x3", sink: chain3[0], echo: chain3[1], pid: c3.cmd.Process.Pid},
		{key: "portal3", name: "ockamtop 3 nodes", sink: inlets["n1.sink"], echo: inlets["n1.echo"], pid: b.ockam.cmd.Process.Pid},
		{key: "sealed3", name: "sealed chain x3", sink: sealed3[0], echo: sealed3[1], pid: cs.cmd.Process.Pid},
		{key: "secure3", name: "3 nodes, secure", sink: inlets["n1.secure_sink"], echo: inlets["n1.secure_echo"], pid: b.ockam.cmd.Process.Pid},
		{key: "chain2", name: "io.Copy chain x2", sink: chain2[0], echo: chain2[1], pid: c2.cmd.Process.Pid},
		{key: "portal2", name: "ockamtop 2 nodes", sink: inlets["n2.sink"], echo: inlets["n2.echo"], pid: b.ockam.cmd.Process.Pid},
	}
	if paths, err = choose(paths, b.opts.paths); err != nil {
		return err
	}
	size := int64(b.opts.sizeMiB) << 20
	fmt.Fprintf(b.out, "portalbench: %d MiB a stream, writes of %d bytes, %d round trips of 64 bytes, %d rounds (medians; ratios: the median of each round's)\n",
		b.opts.sizeMiB, b.opts.write, b.opts.trips, b.opts.rounds)
	results := make([]figures, len(paths))
	for range b.opts.rounds {
		for i, p := range paths {
			cpu0, err := procCPU(p.pid)
			if err != nil {
				return err
			}
			out, err := b.client(self, "send", p.sink, strconv.FormatInt(size, 10), strconv.Itoa(b.opts.write))
			if err != nil {
				return fmt.Errorf("%s: throughput: %w", p.name, err)
			}
			secs, err := strconv.ParseFloat(out, 64)
			if err != nil {
				return fmt.Errorf("%s: throughput: %q", p.name, out)
			}
			cpu1, err := procCPU(p.pid)
			if err != nil {
				return err
			}
			results[i].secs = append(results[i].secs, secs)
			results[i].cpu = append(results[i].cpu, cpu1-cpu0)
			out, err = b.client(self, "echo", p.echo, strconv.Itoa(b.opts.trips))
			if err != nil {
				return fmt.Errorf("%s: round trips: %w", p.name, err)
			}
			var p50, p99 float64
			if _, err := fmt.Sscan(out, &p50, &p99); err != nil {
				return fmt.Errorf("%s: round trips: %q", p.name, out)
			}
			results[i].p50 = append(results[i].p50, p50)
			results[i].p99 = append(results[i].p99, p99)
		}
	}
	b.report(paths, results, size)
	if b.opts.fair > 0 {
		fair := []path{
			{key: "direct", name: "direct", sink: source},
			{key: "portal3", name: "ockamtop 3 nodes", sink: inlets["n1.source"]},
			{key: "secure3", name: "3 nodes, secure", sink: inlets["n1.secure_source"]},
		}
		if err := b.fairStreams(self, fair); err != nil {
			return err
		}
	}
	if b.opts.streams > 0 {
		if err := b.idleStreams(self, "on one inlet", []*ockamtop{b.ockam}, []string{inlets["n1.echo"]}, b.opts.streams); err != nil {
			return err
		}
	}
	if b.opts.inlets > 0 {
		return b.manyInlets(self, bin, echo)
	}
	return nil
}

// report prints each path's medians, and its ratios to direct as the
// median of the ratios in each round: a path and the baseline it is
// compared with are measured seconds apart, so that a machine shared with
// other jobs slows both alike, where the ratio of two medians could pair a
// fast round of one with a slow round of the other. Last come the
// comparisons the portal's targets name, paired the same way.
func (b *bench) report(paths []path, results []figures, size int64) {
	w := b.out
	fmt.Fprintf(w, "%-18s %9s %9s %9s %9s %9s %11s\n", "path", "MB/s", "x direct", "p50 µs", "x direct", "p99 µs", "CPU s/GiB")
	direct := results[0]
	for i, p := range paths {
		r := results[i]
		cpu := "-"
		if p.pid != 0 {
			cpu = fmt.Sprintf("%.2f", median(r.cpu)*float64(1<<30)/float64(size))
		}
		fmt.Fprintf(w, "%-18s %9.0f %9.2f %9.1f %9.2f %9.1f %11s\n", p.name,
			float64(size)/median(r.secs)/1e6, paired(direct.secs, r.secs),
			median(r.p50)/1e3, paired(r.p50, direct.p50), median(r.p99)/1e3, cpu)
	}
	at := func(key string) *figures {
		i := slices.IndexFunc(paths, func(p path) bool { return p.key == key })
		if i < 0 {
			return nil
		}
		return &results[i]
	}
	for _, c := range []struct{ path, base, what string }{
		{"portal3", "chain3", "ockamtop 3 nodes / io.Copy chain x3"},
		{"sealed3", "chain3", "sealed chain x3 / io.Copy chain x3"},
		{"secure3", "portal3", "3 nodes, secure / ockamtop 3 nodes"},
		{"portal2", "chain2", "ockamtop 2 nodes / io.Copy chain x2"},
	} {
		if p, base := at(c.path), at(c.base); p != nil && base != nil {
			fmt.Fprintf(w, "%-38s MB/s %.2fx, p50 %.2fx\n", c.what+":", paired(base.secs, p.secs), paired(p.p50, base.p50))
		}
	}
}

// paired is the median over the rounds of num[i]/den[i].
func paired(num, den []float64) float64 {
	ratios := make([]float64, len(num))
	for i := range num {
		ratios[i] = num[i] / den[i]
	}
	return median(ratios)
}

// idleSettle is how long the streams are held idle before ockamtop's
// memory is read: a stream's reader parks it, with no goroutine, once it
// has been idle for a second (runtime/portal/stream_read.go).
const idleSettle = 3 * time.Second

// idleStreams holds n established streams open on each inlet given, and
// reports how long opening them took and what they cost the ockamtops
// that carry them: their resident memory, and Go's heap and stacks from
// their metrics, summed.
func (b *bench) idleStreams(self, where string, carriers []*ockamtop, inlets []string, n int) error {
	rss0, heap0, stack0, err := memoryOf(carriers)
	if err != nil {
		return err
	}
	cpu0, err := cpuOf(carriers)
	if err != nil {
		return err
	}
	idle, lines, err := b.start(self, append([]string{"idle", strconv.Itoa(n)}, inlets...)...)
	if err != nil {
		return fmt.Errorf("idle streams: %w", err)
	}
	var opened float64
	if len(lines) != 2 || lines[0] != "ready" {
		return fmt.Errorf("idle streams: %q", lines)
	}
	if opened, err = strconv.ParseFloat(lines[1], 64); err != nil {
		return fmt.Errorf("idle streams: %q", lines)
	}
	cpu1, err := cpuOf(carriers)
	if err != nil {
		return err
	}
	time.Sleep(idleSettle)
	rss1, heap1, stack1, err := memoryOf(carriers)
	if err != nil {
		return err
	}
	idle.close()
	total := n * len(inlets)
	per := func(a, b0 float64) float64 { return (a - b0) / float64(total) / 1024 }
	fmt.Fprintf(b.out, "idle streams: %d open %s in %.2f s (ockamtop CPU %.2f s): ockamtop RSS %.1f -> %.1f MiB, %.1f KiB a stream (Go heap in use %.1f KiB, stacks %.1f KiB)\n",
		total, where, opened, cpu1-cpu0, rss0/(1<<20), rss1/(1<<20), per(rss1, rss0),
		per(heap1, heap0), per(stack1, stack0))
	return nil
}

// cpuOf is the CPU time of the ockamtops so far, summed, in seconds.
func cpuOf(ockamtops []*ockamtop) (float64, error) {
	var sum float64
	for _, o := range ockamtops {
		c, err := procCPU(o.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// memoryOf is the resident memory, Go heap in use and Go stacks of the
// ockamtops, summed, in bytes.
func memoryOf(ockamtops []*ockamtop) (rss, heap, stacks float64, err error) {
	for _, o := range ockamtops {
		r, err := procRSS(o.cmd.Process.Pid)
		if err != nil {
			return 0, 0, 0, err
		}
		h, s, err := goMemory(o.metrics)
		if err != nil {
			return 0, 0, 0, err
		}
		rss, heap, stacks = rss+float64(r), heap+h, stacks+s
	}
	return rss, heap, stacks, nil
}

// buildOckamtop builds ./cmd/ockamtop of the module in the working
// directory.
func buildOckamtop(dir string) (string, error) {
	bin := filepath.Join(dir, "ockamtop")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ockamtop")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ockamtop (run from the repository, or pass -ockamtop): %w", err)
	}
	return bin, nil
}

// procCPU is a process's user+sys CPU time so far, in seconds; 0 for pid 0.
func procCPU(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time: %w", err)
	}
	// The fields after the command's closing parenthesis start at field 3;
	// utime and stime are fields 14 and 15, in clock ticks (100 a second).
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("CPU time: unexpected /proc stat %q", data)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("CPU time: %w", err)
	}
	return (utime + stime) / 100, nil
}

// goMemory is ockamtop's Go heap and stacks in use, in bytes, from the Go
// collector of its /metrics.
func goMemory(addr string) (heap, stacks float64, err error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var into *float64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			into = &heap
		case "go_memstats_stack_inuse_bytes":
			into = &stacks
		default:
			continue
		}
		if *into, err = strconv.ParseFloat(value, 64); err != nil {
			return 0, 0, fmt.Errorf("metrics: %s: %w", name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("metrics at %s: no Go heap and stack figures", addr)
	}
	return heap, stacks, nil
}

// procRSS is a process's resident memory in bytes.
func procRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// A proc is a process of the benchmark's; closing its stdin ends it.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
	err    error
}

func (p *proc) close() {
	if p.stdin != nil {
		p.stdin.Close()
	}
}

// start runs a role that serves until its stdin closes, and returns the
// words of its first line.
func (b *bench) start(self string, args ...string) (*proc, []string, error) {
	cmd := exec.Command(self, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	b.procs = append(b.procs, p)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { io.Copy(io.Discard, stdout); p.err = cmd.Wait(); close(p.exited) }()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: no first line: %w", args[0], err)
	}
	return p, strings.Fields(line), nil
}

// client runs a role to its end and returns its output.
func (b *bench) client(self string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// stop ends every process of the benchmark: the roles by closing their
// stdin, ockamtop by an interrupt, as Ctrl-C would.
func (b *bench) stop() {
	for _, p := range b.procs {
		p.close()
	}
	for _, p := range b.interrupt {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	for _, o := range b.ockamtops {
		o.cmd.Process.Signal(os.Interrupt)
	}
	for _, o := range b.ockamtops {
		select {
		case <-o.exited:
		case <-time.After(10 * time.Second):
			o.cmd.Process.Kill()
			<-o.exited
		}
	}
	for _, p := range b.procs {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// choose keeps the paths named in list, comma-separated, in that order,
// after direct, the baseline of every ratio.
func choose(all []path, list string) ([]path, error) {
	out := []path{all[0]} // not all[:1]: appending to it would write over all
	for key := range strings.SplitSeq(list, ",") {
		key = strings.TrimSpace(key)
		if key == "" || key == "direct" {
			continue
		}
		i := slices.IndexFunc(all, func(p path) bool { return p.key == key })
		if i < 0 {
			return nil, fmt.Errorf("-paths: no path %q; the paths are direct, chain3, portal3, sealed3, secure3, chain2 and portal2", key)
		}
		out = append(out, all[i])
	}
	return out, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
