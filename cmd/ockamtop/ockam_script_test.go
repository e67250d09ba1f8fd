package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts of Ockam's command line (testdata/scripts/ockam_*.txtar) run
// `ockam ...` lines as Ockam's documents write them, with OCKAM_HOME in
// the script's work directory.

// stopLeftNodes kills every background node whose control socket is still
// in home when a script ends: one that a failed script did not delete.
func stopLeftNodes(home string) {
	socks, _ := filepath.Glob(filepath.Join(home, "ockamtop", "run", "*.sock"))
	for _, s := range socks {
		if pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(s), ".sock")); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = os.Remove(s)
		}
	}
}

// cmdSetenvStdout sets an environment variable to the last command's
// standard output, trimmed: setenvstdout VAR. It stands in for the shell's
// $(...), as in W=$(ockam tcp-connection create ...).
func cmdSetenvStdout(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: setenvstdout VAR")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

// cmdNoNodeProcesses fails if a node process of OCKAM_HOME still runs:
// nonodeprocesses. Every script ends with it, after node delete --all.
func cmdNoNodeProcesses(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: nonodeprocesses")
	}
	socks, _ := filepath.Glob(filepath.Join(ts.Getenv("OCKAM_HOME"), "ockamtop", "run", "*.sock"))
	for _, s := range socks {
		pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(s), ".sock"))
		if err == nil && syscall.Kill(pid, 0) == nil && !zombie(pid) {
			ts.Fatalf("node process %d still runs (%s)", pid, s)
		}
	}
}
