package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary play the roles, as the benchmark's own
// binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		if role, ok := roles[os.Args[1]]; ok {
			if err := role(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "portalbench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// TestPortalbenchRuns runs the whole benchmark, small, against a freshly
// built ockamtop: every path carries its bytes and its round trips, and
// the idle streams are held. The figures themselves are not asserted.
func TestPortalbenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ockamtop and runs five paths")
	}
	bin := filepath.Join(t.TempDir(), "ockamtop")
	build := exec.Command("go", "build", "-o", bin, "../ockamtop")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ockamtop: %v\n%s", err, out)
	}
	var out strings.Builder
	err := run([]string{"-ockamtop", bin, "-size", "4", "-trips", "200", "-rounds", "1", "-streams", "50", "-inlets", "20", "-inlet-streams", "2", "-fair", "4", "-fair-secure", "2", "-fair-size", "2"}, &out)
	if err != nil {
		t.Fatalf("portalbench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"direct ", "io.Copy chain x3", "ockamtop 3 nodes", "io.Copy chain x2", "ockamtop 2 nodes", "sealed chain x3 / io.Copy chain x3:", "3 nodes, secure / ockamtop 3 nodes:", "idle streams: 50 open on one inlet", "idle streams: 40 open on 20 inlets, 2 each,", "fair streams: 2 MiB a stream"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out.String())
		}
	}
}

// TestPortalbenchUDPRuns runs the UDP benchmark, small and without frp:
// every path carries its datagrams and its round trips.
func TestPortalbenchUDPRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ockamtop and runs three paths")
	}
	bin := filepath.Join(t.TempDir(), "ockamtop")
	build := exec.Command("go", "build", "-o", bin, "../ockamtop")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ockamtop: %v\n%s", err, out)
	}
	var out strings.Builder
	err := run([]string{"-udp", "-ockamtop", bin, "-datagrams", "2000", "-trips", "100", "-rounds", "1"}, &out)
	if err != nil {
		t.Fatalf("portalbench -udp: %v\n%s", err, out.String())
	}
	for _, want := range []string{"direct ", "ockamtop udp 3 nodes ", "udp 3 nodes, secure ", "tcp portal 3 nodes ", "udp 3 nodes p50 / tcp portal p50:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out.String())
		}
	}
}

func TestChooseInAnyOrder(t *testing.T) {
	all := []path{{key: "direct"}, {key: "chain3"}, {key: "portal3"}, {key: "sealed3"}}
	got, err := choose(all, "sealed3, chain3")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range got {
		keys = append(keys, p.key)
	}
	if strings.Join(keys, ",") != "direct,sealed3,chain3" {
		t.Errorf("choose: %v", keys)
	}
	if all[1].key != "chain3" || all[3].key != "sealed3" {
		t.Errorf("choose changed its input: %v", all)
	}
	if _, err := choose(all, "nowhere"); err == nil {
		t.Error("choose took an unknown path")
	}
}
