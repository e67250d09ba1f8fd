package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/scripts")

// leakCheck runs the tests, then fails the run if a goroutine survived.
type leakCheck struct{ m *testing.M }

func (l leakCheck) Run() int {
	code := l.m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			return 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(leakCheck{m}, map[string]func(){
		"ockamtop": func() {
			c := &cli{stdout: os.Stdout, stderr: os.Stderr, env: os.Environ()}
			os.Exit(c.main(os.Args[1:]))
		},
		"ockam": func() {
			c := &cli{stdout: os.Stdout, stderr: os.Stderr, env: os.Environ()}
			os.Exit(c.runOckam(os.Args[:1], os.Args[1:]))
		},
		"ontty": func() { os.Exit(ontty(os.Args[1:])) }, // tty_script_test.go
	})
}

func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "scripts"),
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		Condition:           scriptCondition,
		Setup: func(env *testscript.Env) error {
			env.Setenv("ROOT", root)
			env.Setenv("EXAMPLES", filepath.Join(root, "examples"))
			home := filepath.Join(env.WorkDir, ".ockamtop")
			env.Setenv("OCKAMTOP_HOME", home)
			env.Defer(func() { stopLeftApplies(home) })
			ockamHome := filepath.Join(env.WorkDir, ".ockam")
			env.Setenv("OCKAM_HOME", ockamHome)
			env.Defer(func() { stopLeftNodes(env.WorkDir) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exit":       cmdExit,
			"waitfile":   cmdWaitFile,
			"freeport":   cmdFreePort,
			"eventually": cmdEventually,
			"mkfile":     cmdMkfile,
			"samefile":   cmdSameFile,
			"httpserver": cmdHTTPServer,
			"readyinlet": cmdReadyInlet,
			"junktext":   cmdJunkText,
			"deepfile":   cmdDeepFile,
			"maxbytes":   cmdMaxBytes,
			"signal":     cmdSignal,
			"readyhttp":  cmdReadyHTTP,
			// udp_script_test.go
			"udpecho": cmdUDPEcho,
			"udpask":  cmdUDPAsk,
			// ockam_script_test.go
			"setenvstdout":    cmdSetenvStdout,
			"nonodeprocesses": cmdNoNodeProcesses,
			// netns_script_test.go
			"hostlinks":   cmdHostLinks,
			"readyns":     cmdReadyNS,
			"nothingleft": cmdNothingLeft,
			"nobodycan":   cmdNobodyCan,
		},
	})
}

// stopLeftApplies sends SIGTERM to every apply whose control socket is
// still in home's run directory when a script ends: one it detached and
// did not stop, because it failed before its 'ockamtop down'.
func stopLeftApplies(home string) {
	socks, _ := filepath.Glob(filepath.Join(home, "run", "*.sock"))
	for _, s := range socks {
		if pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(s), ".sock")); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			_ = syscall.Kill(pid, syscall.SIGCONT) // one left stopped by a script
		}
	}
}

// cmdExit runs a program and checks its exit code: exit CODE PROGRAM ARGS...
// Its output is kept for stdout/stderr/cmp like exec's.
func cmdExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exit CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exit: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdWaitFile waits until a file exists and is not empty: waitfile PATH.
// Ready files are written atomically, so a file that exists is whole.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear within 20s", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdFreePort sets an environment variable to a TCP port that was free a
// moment ago: freeport VAR. For the few scripts that need a fixed port in a
// file (two processes must agree on it); all others bind port 0.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdEventually runs a program until it succeeds, for at most a duration:
// eventually DURATION PROGRAM ARGS... The output kept is the last run's.
// It is for recovery, which takes an unknown few retries; never for
// readiness, which has ready files.
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually DURATION PROGRAM [ARGS...]")
	}
	limit, err := time.ParseDuration(args[0])
	ts.Check(err)
	start := time.Now()
	for {
		err := ts.Exec(args[1], args[2:]...)
		if err == nil {
			ts.Logf("succeeded after %s", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > limit {
			ts.Fatalf("%s still failing after %s: %v", args[1], limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdMkfile writes SIZE bytes of reproducible noise: mkfile PATH SIZE(MiB).
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkfile PATH MEBIBYTES")
	}
	mib, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	ts.Check(err)
	defer f.Close()
	rng := mrand.New(mrand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		for j := 0; j < len(buf); j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], rng.Uint64())
		}
		_, err := f.Write(buf)
		ts.Check(err)
	}
}

// cmdSameFile compares two files by size and SHA-256: samefile A B.
func cmdSameFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samefile A B")
	}
	sum := func(name string) (string, int64) {
		f, err := os.Open(ts.MkAbs(name))
		ts.Check(err)
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		ts.Check(err)
		return hex.EncodeToString(h.Sum(nil)), n
	}
	a, an := sum(args[0])
	b, bn := sum(args[1])
	ts.Logf("%s: %d bytes, sha256 %s; %s: %d bytes, sha256 %s", args[0], an, a, args[1], bn, b)
	if (a == b) == neg {
		ts.Fatalf("samefile %s %s: sha256 %s vs %s", args[0], args[1], a, b)
	}
}

// cmdHTTPServer serves a directory over HTTP on a free loopback port until
// the script ends, and sets VAR to its port: httpserver DIR VAR. It stands
// in for python3 -m http.server where there is no python3.
func cmdHTTPServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: httpserver DIR VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: http.FileServer(http.Dir(ts.MkAbs(args[0])))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	ts.Defer(func() {
		srv.Close()
		<-done
	})
	ts.Setenv(args[1], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// cmdReadyInlet reads an inlet's bound address, a TCP or a UDP inlet's,
// from an apply's ready file: readyinlet FILE NODE.INLET VAR.
func cmdReadyInlet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: readyinlet FILE NODE.INLET VAR")
	}
	var info readyInfo
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &info))
	addr, ok := info.Inlets[args[1]]
	if !ok {
		addr, ok = info.UDPInlets[args[1]]
	}
	if !ok {
		ts.Fatalf("no inlet %s in %s", args[1], args[0])
	}
	ts.Setenv(args[2], addr)
}

// cmdReadyHTTP reads the address --http bound from an apply's ready file:
// readyhttp FILE VAR.
func cmdReadyHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readyhttp FILE VAR")
	}
	var info readyInfo
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &info))
	if info.HTTP == "" {
		ts.Fatalf("no http address in %s", args[0])
	}
	ts.Setenv(args[1], info.HTTP)
}

// cmdSignal sends a signal to the apply whose ready file names its pid:
// signal STOP|CONT|TERM|HUP READYFILE. testscript's kill knows only INT
// and KILL, and only its own background processes.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal STOP|CONT|TERM|HUP READYFILE")
	}
	sig, ok := map[string]syscall.Signal{"STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP}[args[0]]
	if !ok {
		ts.Fatalf("signal: unknown signal %q", args[0])
	}
	var info readyInfo
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &info))
	ts.Check(syscall.Kill(info.PID, sig))
}

// cmdJunkText writes BYTES bytes of reproducible text that is no HCL:
// junktext PATH BYTES. Lines of letters, quotes, braces and equals signs
// give the parser an error on nearly every line.
func cmdJunkText(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: junktext PATH BYTES")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	const alphabet = "abcdefghijklmnopqrstuvwxyz{}=\"  \n"
	rng := mrand.New(mrand.NewPCG(3, 4))
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = alphabet[rng.IntN(len(alphabet))]
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), buf, 0o644))
}

// cmdDeepFile writes a topology file whose node n1 listens on an address
// nested LEVELS deep: deepfile PATH parens|template LEVELS. parens nests
// parentheses, template "${...}" interpolations of quoted strings; at any
// depth, the address is "127.0.0.1:0".
func cmdDeepFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: deepfile PATH parens|template LEVELS")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	var open, close string
	switch args[1] {
	case "parens":
		open, close = "(", ")"
	case "template":
		open, close = `"${`, `}"`
	default:
		ts.Fatalf("deepfile: unknown form %q", args[1])
	}
	src := "node \"n1\" {\n  tcp_listener = " + strings.Repeat(open, n) + `"127.0.0.1:0"` + strings.Repeat(close, n) + "\n}\n"
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(src), 0o644))
}

// cmdMaxBytes fails if a file, or the last command's stdout or stderr, is
// larger than N bytes: maxbytes stdout|stderr|PATH N.
func cmdMaxBytes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: maxbytes stdout|stderr|PATH N")
	}
	limit, err := strconv.Atoi(args[1])
	ts.Check(err)
	if got := len(ts.ReadFile(args[0])); got > limit {
		ts.Fatalf("%s has %d bytes, more than %d", args[0], got, limit)
	}
}
