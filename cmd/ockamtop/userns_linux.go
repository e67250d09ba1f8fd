package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Without the capabilities that network namespaces need, apply runs
// itself again in a user namespace of its own, where the kernel allows it
// (most do, to unprivileged users): there it is root, with every
// capability over the namespaces it makes, while it stays in the host's
// network namespace for its inlets. The first process waits for it,
// passes it SIGINT and SIGTERM, and exits with its exit code; if the
// first process dies, the kernel kills the second (its parent-death
// signal), which takes its namespaces and processes with it.

func init() {
	// In a user namespace of its own (the one below, or a rootless
	// container's), a thread that entered a node's network namespace
	// cannot come back to the host's; runtime/netns throws it away, which
	// the Go runtime cannot do to the main thread. Locking the main
	// goroutine to the main thread from the start keeps that thread out
	// of its way.
	if inUserNamespace() {
		runtime.LockOSThread()
	}
}

// inUserNamespace reports whether this process runs in a user namespace
// other than the machine's first: its user IDs are not all mapped to
// themselves.
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
}

// runInUserNamespace runs this process's command line again in a new user
// namespace, mapping this user to root in it, and returns its exit code.
func (c *cli) runInUserNamespace() (int, error) {
	if inUserNamespace() {
		return 0, errors.New("this process runs in a user namespace already, without those capabilities")
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = os.Args
	cmd.Env = c.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.stdout, c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	// apply --detach's child tells its parent it is up on a descriptor
	// named in the environment: the second process inherits it.
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, readyFDEnv+"="); ok {
			if fd, err := strconv.Atoi(v); err == nil && fd >= 3 && fd < 64 {
				cmd.ExtraFiles = make([]*os.File, fd-2)
				cmd.ExtraFiles[fd-3] = os.NewFile(uintptr(fd), "ready")
			}
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// The parent-death signal is the thread's: the thread that starts
	// the child stays with this goroutine until the child has exited.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("make a user namespace: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				if code := ee.ExitCode(); code >= 0 {
					return code, nil
				}
				return exitInvalid, nil // killed by a signal
			}
			if err != nil {
				return 0, err
			}
			return exitOK, nil
		}
	}
}
