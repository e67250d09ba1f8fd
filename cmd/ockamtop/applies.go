package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ockamtop/ockamtop/topology/deploy"
)

// Finding the running applies. Each apply listens on PID.sock in the run
// directory; a socket is one of three things:
//
//   - an apply that answers GET /status within answerTimeout: running;
//   - a socket that accepts the connection but gives no answer in time (the
//     process is stopped with SIGSTOP, or too busy): silent. It is not
//     "nothing running": status and message send say which pid and socket
//     do not answer, and down signals that pid;
//   - a socket nobody listens on (connection refused): left by a process
//     that died, and removed.

// answerTimeout bounds how long a running apply may take to answer a
// status request before it is reported as not answering.
const answerTimeout = 2 * time.Second

// runningApply is an apply that answered.
type runningApply struct {
	client *controlClient
	status controlStatus
}

// silentApply is a control socket whose process accepted a connection
// but did not answer.
type silentApply struct {
	pid    int // the listening process, 0 if unknown
	socket string
	err    error
}

func (s silentApply) String() string {
	pid := "unknown pid"
	if s.pid > 0 {
		pid = "pid " + strconv.Itoa(s.pid)
	}
	return fmt.Sprintf("apply %s does not answer on %s (stopped, or too busy): %v", pid, s.socket, s.err)
}

// applies is what the run directory holds.
type applies struct {
	dir     string
	running []runningApply
	silent  []silentApply
}

// none says that nothing is running, and where we looked.
func (a *applies) none() error {
	return fmt.Errorf("no running topology (looked in %s); start one with 'ockamtop apply FILE'", a.dir)
}

// reportSilent prints one line per apply that does not answer.
func (c *cli) reportSilent(cmd string, a *applies) {
	for _, s := range a.silent {
		fmt.Fprintf(c.stderr, "ockamtop %s: %s\n", cmd, s)
	}
}

// findApplies asks every control socket of the run directory for its
// status, all at once, so that a silent apply costs answerTimeout once.
func (c *cli) findApplies(ctx context.Context) (*applies, error) {
	dir, err := c.runDir()
	if err != nil {
		return nil, err
	}
	a := &applies{dir: dir}
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	slices.Sort(socks)
	type result struct {
		run    *runningApply
		silent *silentApply
	}
	results := make([]result, len(socks))
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Go(func() {
			results[i].run, results[i].silent = probeApply(ctx, s)
		})
	}
	wg.Wait()
	for _, r := range results {
		switch {
		case r.run != nil:
			a.running = append(a.running, *r.run)
		case r.silent != nil:
			a.silent = append(a.silent, *r.silent)
		}
	}
	return a, nil
}

// probeApply asks one socket for its status. A socket nobody listens on is
// removed, and both results are nil.
func probeApply(ctx context.Context, sock string) (*runningApply, *silentApply) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			if alive(pidOfSocket(sock)) {
				// Alive: an apply between binding its socket and
				// listening on it. It is not up yet; leave its socket.
				return nil, nil
			}
			_ = os.Remove(sock) // left by a process that died
		}
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, &silentApply{pid: pidOfSocket(sock), socket: sock, err: err}
	}
	pid := peerPID(conn)
	conn.Close()
	if pid <= 0 {
		pid = pidOfSocket(sock)
	}
	cl := newControlClient(sock)
	var st controlStatus
	if err := cl.call(ctx, "GET", "/status", nil, &st); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", answerTimeout)
		}
		return nil, &silentApply{pid: pid, socket: sock, err: err}
	}
	return &runningApply{client: cl, status: st}, nil
}

// pidOfSocket reads the pid from a socket's name, PID.sock.
func pidOfSocket(sock string) int {
	pid, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(sock), ".sock"))
	return pid
}

// runs reports whether the apply runs node name.
func (r runningApply) runs(name string) bool {
	return slices.ContainsFunc(r.status.Nodes, func(n deploy.NodeStatus) bool { return n.Name == name })
}

// isFile reports whether the apply runs file: the path as given to apply,
// the same file by absolute path, or its base name.
func (r runningApply) isFile(file string) bool {
	if file == r.status.File || file == filepath.Base(r.status.Path) {
		return true
	}
	abs, err := filepath.Abs(file)
	return err == nil && abs == r.status.Path
}

func (r runningApply) String() string {
	return fmt.Sprintf("%s (pid %d)", r.status.File, r.status.PID)
}

// matching returns the running applies that run node (any, for "") and
// file (any, for "").
func (a *applies) matching(node, file string) []runningApply {
	var out []runningApply
	for _, r := range a.running {
		if (node == "" || r.runs(node)) && (file == "" || r.isFile(file)) {
			out = append(out, r)
		}
	}
	return out
}

// errAmbiguous reports that more than one running apply fits what the
// command line names: the user must pick one with --file.
func (c *cli) errAmbiguous(cmd, what string, cands []runningApply) error {
	fmt.Fprintf(c.stderr, "ockamtop %s: %s, in %d running applies; pick one with --file FILE (its path or its name):\n", cmd, what, len(cands))
	for _, r := range cands {
		fmt.Fprintf(c.stderr, "  %s\n", r)
	}
	return errUsage
}

// errNoMatch reports that no running apply fits, listing those that run.
func (c *cli) errNoMatch(cmd, what string, a *applies) error {
	fmt.Fprintf(c.stderr, "ockamtop %s: no running apply runs %s", cmd, what)
	if len(a.running) > 0 {
		fmt.Fprintf(c.stderr, "; running:")
	}
	fmt.Fprintln(c.stderr)
	for _, r := range a.running {
		names := make([]string, len(r.status.Nodes))
		for i, n := range r.status.Nodes {
			names[i] = n.Name
		}
		fmt.Fprintf(c.stderr, "  %s: nodes %s\n", r, strings.Join(names, ", "))
	}
	c.reportSilent(cmd, a)
	return errInvalid
}

// describe says what a --node/--file selection names, for messages.
func describe(node, file string) string {
	switch {
	case node != "" && file != "":
		return fmt.Sprintf("node %s from %s", node, file)
	case node != "":
		return "node " + node
	case file != "":
		return file
	}
	return "anything"
}
