package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// exec blocks: processes that start with their node and stop with it.
//
//   - A process starts in its node's network namespace when the node has
//     one (it is cloned from a thread inside it), in the host's otherwise,
//     in a process group of its own, with no stdin.
//   - Each line it writes is a line of the log, at INFO, with its node,
//     exec name and stream.
//   - wait_for: Start waits until the address accepts a TCP connection,
//     dialed from the node's namespace, and fails if the process exits or
//     the timeout passes first.
//   - Stop sends SIGTERM to its process group, then SIGKILL after
//     ExecStopWait. If this process dies, even by SIGKILL, the kernel sends
//     the process SIGKILL (PR_SET_PDEATHSIG): the thread that started it
//     stays locked to its goroutine until it exits, since the kernel ties
//     the signal to that thread.
//   - A process that exits before Stop is reported on Running.ExecExited:
//     apply fails.
//   - With ExternalExecs, the processes are another's to start and stop:
//     an exec is only its wait_for, waited for as above.

// ExecExit is an exec's process that exited before the topology stopped.
type ExecExit struct {
	Node string
	Name string
	// Err is how it exited: nil for status 0.
	Err error
}

func (e *ExecExit) Error() string {
	how := "with status 0"
	if e.Err != nil {
		how = e.Err.Error()
	}
	return fmt.Sprintf("exec %q of node %q exited: %s", e.Name, e.Node, how)
}

// runningExec is a started process.
type runningExec struct {
	node, name string
	command    []string
	pid        int
	done       chan struct{} // closed when it has exited and been waited for
	err        error         // how it exited; set before done is closed
	stopping   atomic.Bool   // set by stop: its exit is no failure
	// settled is closed once its start is over, ready or failed: an exit
	// before that is the start's failure, told by the start, not one that
	// stops the topology.
	settled chan struct{}
	// external is an exec that another starts (StartOptions.ExternalExecs):
	// no process of this one's, done never closed.
	external bool
}

// ExecExited tells of the first exec process that exited on its own,
// while the topology was up.
func (r *Running) ExecExited() <-chan *ExecExit { return r.execsDone }

// Execs maps "node.exec" to each running process's pid; the external
// execs have none here.
func (r *Running) Execs() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, e := range r.execsLocked("") {
		if !e.external {
			out[e.node+"."+e.name] = e.pid
		}
	}
	return out
}

// execsLocked lists the processes of node, or of every node for "";
// r.mu is held.
func (r *Running) execsLocked(node string) []*runningExec {
	var out []*runningExec
	for name, rn := range r.nodes {
		if node != "" && name != node {
			continue
		}
		for _, p := range rn.parts {
			if e, ok := p.run.(*runningExec); ok {
				out = append(out, e)
			}
		}
	}
	return out
}

// ExecStatus is a snapshot of an exec's process.
type ExecStatus struct {
	Name    string   `json:"name"`
	PID     int      `json:"pid"`
	Command []string `json:"command"`
	// Running is false once it has exited.
	Running bool `json:"running"`
	// External is an exec that another starts (no PID here).
	External bool `json:"external,omitempty"`
}

// isolationStatus adds a node's namespace and processes to its status.
func (r *Running) isolationStatus(ns *NodeStatus) {
	if info, ok := r.Namespaces()[ns.Name]; ok && ns.Name != "" {
		ns.Namespace = &info
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.execsLocked(ns.Name) {
		running := true
		select {
		case <-e.done:
			running = false
		default:
		}
		ns.Execs = append(ns.Execs, ExecStatus{Name: e.name, PID: e.pid, Command: e.command, Running: running, External: e.external})
	}
}

// execUnit runs an exec's process, waited for when it says what it
// accepts connections on.
var execUnit = unit{
	start: func(r *Running, ctx context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		x := p.Model.(*schema.Exec)
		tn := r.topology().Node(p.Node)
		fail := func(err error) error { return startError(fmt.Sprintf("exec %q", x.Name), tn, x.DeclRange, err) }
		if r.opts.ExternalExecs {
			return r.externalExec(ctx, tn, x, fail)
		}
		e, err := r.startExec(n, tn, x)
		if err != nil {
			return nil, fail(err)
		}
		defer close(e.settled)
		if x.WaitFor == nil {
			r.progress(fmt.Sprintf("✔ exec %s on %s: pid %d", x.Name, tn.Name, e.pid))
			return e, nil
		}
		if err := r.waitExec(ctx, tn, x, e); err != nil {
			// Its exit is this failure's, not one that stops the topology.
			e.stopping.Store(true)
			return e, fail(err)
		}
		r.progress(fmt.Sprintf("✔ exec %s on %s: pid %d, accepting on %s", x.Name, tn.Name, e.pid, x.WaitFor.Value))
		return e, nil
	},
}

// externalExec is an exec that another starts: it is up once its
// wait_for accepts connections.
func (r *Running) externalExec(ctx context.Context, tn *topology.Node, x *schema.Exec, fail func(error) error) (partRun, error) {
	argv := make([]string, len(x.Command))
	for i, a := range x.Command {
		argv[i] = a.Value
	}
	e := &runningExec{node: tn.Name, name: x.Name, command: argv, done: make(chan struct{}), settled: make(chan struct{}), external: true}
	close(e.settled)
	if x.WaitFor == nil {
		r.progress(fmt.Sprintf("✔ exec %s on %s: started elsewhere", x.Name, tn.Name))
		return e, nil
	}
	if err := r.waitExec(ctx, tn, x, e); err != nil {
		return e, fail(err)
	}
	r.progress(fmt.Sprintf("✔ exec %s on %s: started elsewhere, accepting on %s", x.Name, tn.Name, x.WaitFor.Value))
	return e, nil
}

// startExec starts one process and the goroutine that waits for it.
func (r *Running) startExec(n *runtime.Node, tn *topology.Node, x *schema.Exec) (*runningExec, error) {
	argv := make([]string, len(x.Command))
	for i, a := range x.Command {
		argv[i] = a.Value
	}
	log := n.Logger().With("exec", x.Name)
	stdout, stderr := &lineLog{log: log.With("stream", "stdout")}, &lineLog{log: log.With("stream", "stderr")}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = procAttr()
	// A child that keeps the output open after the process exits does
	// not hold up Wait for long.
	cmd.WaitDelay = time.Second

	enter := lockedThread
	if ns := r.iso.namespace(tn.Name); ns != nil {
		enter = ns.Do
	}
	if err := execSupported(); err != nil {
		return nil, err
	}
	e := &runningExec{node: tn.Name, name: x.Name, command: argv, done: make(chan struct{}), settled: make(chan struct{})}
	started := make(chan error, 1)
	r.execWG.Go(func() {
		defer close(e.done)
		startErr := errNotEntered
		err := enter(func() error {
			if startErr = cmd.Start(); startErr != nil {
				return nil
			}
			e.pid = cmd.Process.Pid
			started <- nil
			e.err = cmd.Wait()
			return nil
		})
		if startErr != nil {
			if startErr == errNotEntered {
				startErr = err
			}
			started <- startErr
			return
		}
		if err != nil { // the thread that started it, leaving the namespace
			log.Warn("exec", "error", err)
		}
		stdout.flush()
		stderr.flush()
	})
	if err := <-started; err != nil {
		<-e.done
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	log.Debug("started", "pid", e.pid, "command", strings.Join(argv, " "))
	r.execWG.Go(func() {
		<-e.done
		<-e.settled
		if e.stopping.Load() {
			return
		}
		exit := &ExecExit{Node: tn.Name, Name: x.Name, Err: e.err}
		log.Error("process exited before the topology stopped", "pid", e.pid, "error", exit.Error())
		select {
		case r.execsDone <- exit:
		default: // one is enough to fail the apply
		}
	})
	return e, nil
}

// errNotEntered is a process that was not started: its thread could not
// enter the node's namespace.
var errNotEntered = errors.New("not started")

// lockedThread runs f on a thread locked to its goroutine: a process f
// starts gets its parent-death signal when that thread ends, not before.
func lockedThread(f func() error) error {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	return f()
}

// waitExec waits until x's wait_for accepts a connection from the node's
// namespace.
func (r *Running) waitExec(ctx context.Context, tn *topology.Node, x *schema.Exec, e *runningExec) error {
	ctx, cancel := context.WithTimeout(ctx, x.Timeout)
	defer cancel()
	sockets := r.iso.sockets(tn.Name, r.opts.Node.Sockets)
	pause := 10 * time.Millisecond
	var last error
	for {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		c, err := sockets.Dial(dctx, "tcp", x.WaitFor.Value)
		dcancel()
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		select {
		case <-e.done:
			return fmt.Errorf("the process exited before it accepted connections on %s: %v", x.WaitFor.Value, exitString(e.err))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("nothing accepted connections on %s within %s: %v", x.WaitFor.Value, x.Timeout, last)
			}
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopExecs stops the processes, all at once, and waits for them.
func (r *Running) stopExecs(execs []*runningExec) {
	var wg sync.WaitGroup
	for _, e := range execs {
		wg.Go(func() { e.end(r.opts.ExecStopWait) })
	}
	wg.Wait()
}

func (e *runningExec) state() string {
	select {
	case <-e.done:
		return "exited"
	default:
		return stateUp
	}
}

// stop ends the process; the goroutines that wait for it are joined by
// the topology's Stop.
func (e *runningExec) stop(r *Running) { e.end(r.opts.ExecStopWait) }

// end ends the process's group: SIGTERM, then SIGKILL after wait; and
// SIGKILL for whatever of the group outlived its leader.
func (e *runningExec) end(wait time.Duration) {
	e.stopping.Store(true)
	if e.external {
		return
	}
	select {
	case <-e.done:
	default:
		signalGroup(e.pid, syscall.SIGTERM)
		t := time.NewTimer(wait)
		select {
		case <-e.done:
		case <-t.C:
			signalGroup(e.pid, syscall.SIGKILL)
			<-e.done
		}
		t.Stop()
	}
	signalGroup(e.pid, syscall.SIGKILL)
}

// lineLog writes a process's output to the log, a line at a time; a line
// longer than maxLogLine is cut into several.
type lineLog struct {
	log hclog.Logger
	buf []byte
}

const maxLogLine = 4096

func (l *lineLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		switch {
		case i >= 0 && i <= maxLogLine:
			l.log.Info(strings.TrimRight(string(l.buf[:i]), "\r"))
			l.buf = l.buf[i+1:]
		case len(l.buf) >= maxLogLine:
			l.log.Info(string(l.buf[:maxLogLine]))
			l.buf = l.buf[maxLogLine:]
		default:
			if len(l.buf) == 0 {
				l.buf = nil // the array goes, not just its contents
			}
			return len(p), nil
		}
	}
}

// flush logs what is left, a last line without a newline.
func (l *lineLog) flush() {
	if len(l.buf) > 0 {
		l.log.Info(string(l.buf))
		l.buf = nil
	}
}
