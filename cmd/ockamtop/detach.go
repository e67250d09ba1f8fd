package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// apply --detach runs the same apply in the background:
//
//  1. The parent starts this executable again with the same arguments
//     but --detach and --log-file, in a session of its own (so that the
//     terminal's Ctrl-C and hangup do not reach it), its stdin from
//     /dev/null and its stdout and stderr to the log file, and a pipe on
//     fd 3 whose number it finds in $OCKAMTOP_READY_FD.
//  2. The child starts as any apply does; once everything is up (the
//     control socket listens, the ready file is written), it writes
//     "ready" to the pipe and closes it.
//  3. The parent prints the log so far (what was started, the checks),
//     the child's pid and the log's path, and exits 0; or, when the child
//     wrote "ready checks-failed", 1, the child running on as a foreground
//     apply whose checks failed would. If the pipe closes without
//     "ready", the child has failed: the parent prints the log and exits
//     with the child's code.
//
// A pipe rather than a file to poll: the parent learns at once both that
// the child is up and that it died.

// readyFDEnv names the environment variable that gives a detached apply
// the descriptor to report readiness on.
const readyFDEnv = "OCKAMTOP_READY_FD"

// What a detached apply writes on its pipe once it is up: whether its
// checks passed.
const (
	readyUp           = "ready"
	readyChecksFailed = "ready checks-failed"
)

// detach starts apply with args in the background and waits until it is
// up. The control socket's path is checked first, for the longest pid.
func (c *cli) detach(args []string, logFile string) error {
	if _, err := c.controlSocket(0); err != nil {
		fmt.Fprintf(c.stderr, "ockamtop apply: %v\n", err)
		return errInvalid
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("detach: find this executable: %w", err)
	}
	log, err := c.openLog(logFile)
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	defer log.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	defer pr.Close()
	cmd := &exec.Cmd{
		Path: exe,
		// os.Args[0] is the name this executable was run by; keep it.
		Args:        append([]string{os.Args[0], "apply"}, withoutFlags(args, "detach", "log-file")...),
		Env:         append(c.env, fmt.Sprintf("%s=%d", readyFDEnv, 3)),
		Stdout:      log,
		Stderr:      log,
		ExtraFiles:  []*os.File{pw},
		SysProcAttr: detachedAttr(),
	}
	err = cmd.Start()
	pw.Close() // the child holds the write end now
	if err != nil {
		return fmt.Errorf("detach: start %s: %w", exe, err)
	}
	path := log.Name()
	if logFile == "" {
		// Named after the child, next to its socket.
		named := filepath.Join(filepath.Dir(path), strconv.Itoa(cmd.Process.Pid)+".log")
		if os.Rename(path, named) == nil {
			path = named
		}
	}
	line, _ := bufio.NewReader(pr).ReadString('\n')
	out, _ := os.ReadFile(path)
	if l := strings.TrimSpace(line); l != readyUp && l != readyChecksFailed {
		err := cmd.Wait()
		c.stderr.Write(out)
		code := exitInvalid
		if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		fmt.Fprintf(c.stderr, "ockamtop apply: the detached apply (pid %d) stopped before it was up; its log is %s\n", cmd.Process.Pid, path)
		return &exitError{code}
	}
	c.stdout.Write(out)
	fmt.Fprintf(c.stdout, "✔ running in the background: pid %d, log %s; stop with 'ockamtop down'\n", cmd.Process.Pid, path)
	if err := cmd.Process.Release(); err != nil {
		return err
	}
	if strings.TrimSpace(line) == readyChecksFailed {
		fmt.Fprintf(c.stderr, "ockamtop apply: a check failed; the topology runs on in the background\n")
		return errInvalid
	}
	return nil
}

// openLog opens the detached apply's log: path, or a new file in the run
// directory.
func (c *cli) openLog(path string) (*os.File, error) {
	if path != "" {
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	}
	dir, err := c.runDir()
	if err != nil {
		return nil, err
	}
	return os.CreateTemp(dir, "apply-*.log")
}

// notifyDetached tells the parent of a detached apply that it is up.
// detached is false for an apply run in the foreground.
func (c *cli) notifyDetached(checksOK bool) (detached bool, err error) {
	var fd string
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, readyFDEnv+"="); ok {
			fd = v
		}
	}
	if fd == "" {
		return false, nil
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return true, fmt.Errorf("%s=%q: not a descriptor", readyFDEnv, fd)
	}
	f := os.NewFile(uintptr(n), "ready")
	if f == nil {
		return true, fmt.Errorf("%s=%d: not a descriptor", readyFDEnv, n)
	}
	fmt.Fprintf(c.stderr, "ockamtop: up in the background (pid %d); stop with 'ockamtop down'\n", os.Getpid())
	say := readyUp
	if !checksOK {
		say = readyChecksFailed
	}
	_, err = f.WriteString(say + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return true, fmt.Errorf("tell the parent the apply is up: %w", err)
	}
	return true, nil
}

// withoutFlags removes the flags named (with their values, for those that
// take one) from a command line, up to a "--".
func withoutFlags(args []string, names ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !slices.Contains(names, name) {
			out = append(out, a)
			continue
		}
		if name != "detach" && !hasValue {
			i++ // the flag's value is the next argument
		}
	}
	return out
}
