package main

import (
	"bytes"
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

// nodeProcesses finds the background node processes of any OCKAM_HOME
// under dir: those whose command line is a node's child process and whose
// environment's OCKAM_HOME is in dir. It reads /proc, so that a node whose
// control socket is gone is found too; where there is no /proc, it finds
// none.
func nodeProcesses(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("--child-process")) {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if home, ok := strings.CutPrefix(string(kv), "OCKAM_HOME="); ok && (home == dir || strings.HasPrefix(home, dir+"/")) && !zombie(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// stopLeftNodes kills every background node of an OCKAM_HOME under the
// script's work directory when the script ends: one that a failed script
// did not delete.
func stopLeftNodes(work string) {
	for _, pid := range nodeProcesses(work) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
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

// cmdNoNodeProcesses fails if a node process of an OCKAM_HOME under the
// script's work directory still runs: nonodeprocesses. Every script ends
// with it, after node delete --all.
func cmdNoNodeProcesses(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: nonodeprocesses")
	}
	if pids := nodeProcesses(ts.Getenv("WORK")); len(pids) > 0 {
		ts.Fatalf("node processes still run: %v", pids)
	}
}
