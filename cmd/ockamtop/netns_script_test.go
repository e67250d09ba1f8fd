package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ockamtop/ockamtop/runtime/netns"
)

// Script commands for isolated networks and exec.

// scriptCondition adds the scripts' own conditions: [netns] holds where
// this process may make network namespaces (as root; CI runs as root).
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "netns":
		return netns.CheckPrivilege() == nil, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// cmdHostLinks writes the host namespace's interface names, sorted, one a
// line: hostlinks PATH. nothingleft compares them with those after.
func cmdHostLinks(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hostlinks PATH")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(hostLinkNames(ts), "\n")+"\n"), 0o644))
}

func hostLinkNames(ts *testscript.TestScript) []string {
	ifs, err := net.Interfaces()
	ts.Check(err)
	var names []string
	for _, i := range ifs {
		if containerEngineLink(i.Name) {
			continue
		}
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

// containerEngineLink reports whether an interface of the host namespace
// is a container engine's (Docker's bridges and the host ends of its veth
// pairs), which come and go while the engine test runs beside these
// scripts. ockamtop makes none in the host namespace, and names its own
// br0, p0, ethN or after a network, none of which looks like these.
func containerEngineLink(name string) bool {
	return strings.HasPrefix(name, "veth") || strings.HasPrefix(name, "br-") || strings.HasPrefix(name, "docker")
}

// cmdReadyNS sets VAR to the path of a node's network namespace, from an
// apply's ready file, for nsenter --net=$VAR: readyns FILE NODE VAR.
func cmdReadyNS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: readyns FILE NODE VAR")
	}
	var info readyInfo
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &info))
	ns, ok := info.Namespaces[args[1]]
	if !ok {
		ts.Fatalf("no namespace for node %s in %s", args[1], args[0])
	}
	ts.Setenv(args[2], ns.Path)
}

// cmdNothingLeft checks, once the apply that wrote a ready file has ended,
// that it left nothing behind: no process or mount holds any of its
// network namespaces, none of its exec processes is alive, and the host
// namespace's interfaces are those listed in LINKS (see hostlinks):
// nothingleft READYFILE LINKS. What the kernel frees a moment after the
// apply's end (a process killed by its parent-death signal) is waited
// for, 10 s at most.
func cmdNothingLeft(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nothingleft READYFILE LINKS")
	}
	var info readyInfo
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &info))
	var inodes []uint64
	for _, ns := range info.Namespaces {
		inodes = append(inodes, ns.Inode)
	}
	want := strings.Fields(ts.ReadFile(args[1]))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		if running(info.PID) {
			left = append(left, "the apply, pid "+strconv.Itoa(info.PID))
		}
		for name, pid := range info.Execs {
			if running(pid) {
				left = append(left, "exec "+name+", pid "+strconv.Itoa(pid))
			}
		}
		left = append(left, netns.Held(inodes)...)
		if got := hostLinkNames(ts); !slices.Equal(got, want) {
			left = append(left, "host interfaces "+strings.Join(got, " ")+", were "+strings.Join(want, " "))
		}
		if len(left) == 0 {
			ts.Logf("nothing left: %d namespaces, %d exec processes", len(inodes), len(info.Execs))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running reports whether a process runs: it exists and is no zombie (one
// that died after its parent did waits for init to reap it).
func running(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// cmdNobodyCan lets the user nobody run this script's ockamtop in $WORK:
// it opens $WORK (and the directory above it) to everyone, and sets VAR
// to a directory everyone may read that holds a copy of the ockamtop
// binary: nobodycan VAR. The copy goes when the script ends.
func cmdNobodyCan(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nobodycan VAR")
	}
	work := ts.Getenv("WORK")
	ts.Check(os.Chmod(work, 0o777))
	ts.Check(os.Chmod(filepath.Dir(work), 0o711))
	src, err := exec.LookPath("ockamtop")
	ts.Check(err)
	dir, err := os.MkdirTemp("", "ockamtop-nobody")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(dir) })
	ts.Check(os.Chmod(dir, 0o755))
	// Copied by cp, not written from here: a file this process has open
	// for writing can be inherited by a child another test forks at that
	// moment, and exec of the copy then fails with "text file busy".
	dst := filepath.Join(dir, "ockamtop")
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		ts.Fatalf("cp %s: %v: %s", src, err, out)
	}
	ts.Check(os.Chmod(dst, 0o755))
	ts.Setenv(args[0], dir)
}
