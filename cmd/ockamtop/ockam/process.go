package ockam

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// A node created without --foreground is a background process, as Ockam's
// are:
//
//  1. the command adds the node to the session (with a listener on a port
//     it picked, or the one given) and starts this program again as
//     `ockam node create NAME --foreground --child-process`, in a session
//     of its own, its output to nodes/NAME.log, and a pipe on fd 3 whose
//     number it finds in $OCKAM_READY_FD;
//  2. the child runs the session's topology with only NAME local
//     (deploy.Start), serves its control socket and writes "ready" on the
//     pipe;
//  3. the command records the child's pid and returns; if the pipe closes
//     without "ready", it prints the log and fails.

// readyFDEnv names the variable that gives a child node its ready pipe.
const readyFDEnv = "OCKAM_READY_FD"

// startTimeout bounds how long a command waits for a node to be up.
const startTimeout = 30 * time.Second

// spawn starts node name in the background and waits until it is up. It
// returns the child's pid.
func (r *run) spawn(name string) (int, error) {
	if err := r.home.checkSocketPath(); err != nil {
		return 0, err
	}
	exe, err := r.Executable()
	if err != nil {
		return 0, failf("find this executable: %v", err)
	}
	logPath := r.home.logFile(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return 0, failf("node %s: %v", name, err)
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, failf("node %s: %v", name, err)
	}
	defer log.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, failf("node %s: %v", name, err)
	}
	defer pr.Close()
	args := append(append([]string{}, r.Prefix...), "node", "create", name, "--foreground", "--child-process")
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        args,
		Env:         append(append([]string{}, r.Environ...), readyFDEnv+"=3"),
		Stdout:      log,
		Stderr:      log,
		ExtraFiles:  []*os.File{pw},
		SysProcAttr: detachedAttr(),
	}
	err = cmd.Start()
	pw.Close() // the child holds the write end now
	if err != nil {
		return 0, failf("start node %s: %v", name, err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(pr).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	var got string
	select {
	case got = <-line:
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		pr.Close()
		<-line
	}
	if got != "ready" {
		_ = cmd.Wait()
		out, _ := os.ReadFile(logPath)
		return 0, failf("node %s failed to start:\n%s", name, indent(strings.TrimSpace(string(out))))
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// runNode runs node name in this process until SIGINT, SIGTERM or
// `node stop`: `node create NAME --foreground`.
func (r *run) runNode(name string, child bool) error {
	ctx, stop := ossignal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := os.ReadFile(r.home.sessionFile())
	if err != nil {
		return failf("node %s: read the session: %v", name, err)
	}
	t, err := planHCL(r.home.sessionFile(), src)
	if err != nil {
		return err
	}
	local, diags := t.Subset([]string{name})
	if diags.HasErrors() {
		return failf("node %s: %s", name, diagnosticText(diags))
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "ockam", Level: hclog.Info, Output: r.Stderr})
	dial := &peers{home: r.home}
	running, err := deploy.Start(ctx, t, local, deploy.StartOptions{
		Node:        runtime.Options{Transports: dial.transports()},
		Logger:      log,
		Progress:    func(line string) { fmt.Fprintln(r.Stderr, line) },
		IdentityDir: r.home.identityDir(),
	})
	if err != nil {
		return failf("node %s: %v", name, err)
	}
	defer running.Stop()
	var mu sync.Mutex // one reconcile at a time, of the file as it is then
	applied := src    // guarded by mu: the session file as it runs here
	reconcile := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		src, err := os.ReadFile(r.home.sessionFile())
		if err != nil {
			return err
		}
		if bytes.Equal(src, applied) {
			return nil
		}
		t, err := planHCL(r.home.sessionFile(), src)
		if err != nil {
			return err
		}
		local, diags := t.Subset([]string{name})
		if diags.HasErrors() {
			return errors.New(diagnosticText(diags))
		}
		// The process's context, not the request's: a command that gives
		// up must not leave a change half made.
		if _, err = running.Reconcile(ctx, t, local, deploy.ReconcileOptions{}); err != nil {
			return err
		}
		applied = src
		return nil
	}
	sock := r.home.socket(os.Getpid())
	ctl, err := serveControl(sock, name, running, reconcile, stop)
	if err != nil {
		return failf("node %s: %v", name, err)
	}
	defer ctl.Close()
	if fd := r.getenv(readyFDEnv); fd != "" && child {
		n, err := strconv.Atoi(fd)
		if err != nil {
			return failf("%s=%q: not a descriptor", readyFDEnv, fd)
		}
		f := os.NewFile(uintptr(n), "ready")
		_, err = f.WriteString("ready\n")
		f.Close()
		if err != nil {
			return failf("node %s: tell the command it is up: %v", name, err)
		}
	} else {
		r.ok("Node %s is up: listening on %s; stop it with Ctrl-C", name, running.ListenerOf(name))
	}
	<-ctx.Done()
	fmt.Fprintf(r.Stderr, "node %s: stopped %v\n", name, running.Stop())
	return nil
}

// stopNode stops node n's process, if it runs, and waits for it to exit.
func (r *run) stopNode(n *Node, hard bool) error {
	if n.PID == 0 {
		return nil
	}
	pid := n.PID
	n.PID = 0
	if !alive(pid) {
		return nil
	}
	if hard {
		_ = signal(pid, true)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var out map[string]bool
		err := call(ctx, r.home.socket(pid), "POST", "/stop", nil, &out)
		cancel()
		if err != nil {
			_ = signal(pid, false)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = signal(pid, true)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = os.Remove(r.home.socket(pid))
	return nil
}

// running reports whether node n's process runs: its pid is alive and
// its control socket is there (a pid reused by another process has none).
func (r *run) running(n *Node) bool {
	if n.PID <= 0 || !alive(n.PID) {
		return false
	}
	_, err := os.Stat(r.home.socket(n.PID))
	return err == nil
}

// freePort picks a free port on host, as Ockam's CLI does for a listener
// it is not given: the node's process binds it a moment later.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
