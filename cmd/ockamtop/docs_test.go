package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README and the pages of docs/ are run, so that they cannot drift
// from what ockamtop does. In a page, a fenced block is:
//
//   - ```console: commands, each on a line that starts with "$ " (a line
//     ending with "\" goes on on the next one), each followed by the
//     output it must print, stdout and stderr together. A line "..."
//     stands for any number of lines. A command without output after it
//     must print nothing.
//   - ```sh: a script, run as it is, which must succeed (each line under
//     `set -e`); what it prints is not compared.
//   - ```hcl: a topology, which `ockamtop validate` must find valid.
//
// Other blocks (text, yaml) are not commands. The blocks of one page
// run in order in one bash, in a copy of the repository, with HOME and
// OCKAMTOP_HOME of their own and ockamtop on the PATH; where the machine
// lets a test make a network namespace, in one of its own (so that the
// pages' fixed ports, the seeds', never meet another test's), with only
// loopback up. Whatever the page left running is stopped at the end.

// docBlock is one command of a page: a console command with its output,
// or a whole sh block.
type docBlock struct {
	line   int      // where it is in the page
	script string   // the command, or the sh block
	want   []string // console: the output; nil for sh
	sh     bool
	hcl    bool // an sh block that is a topology to validate
}

// parseDoc reads a page's command blocks.
func parseDoc(src []byte) ([]docBlock, error) {
	var blocks []docBlock
	sc := bufio.NewScanner(bytes.NewReader(src))
	var (
		lineNo  int
		fence   string // the info string of the block we are in, or ""
		inBlock bool
		sh      *docBlock
		cmd     *docBlock
	)
	flush := func() {
		if cmd != nil {
			blocks = append(blocks, *cmd)
			cmd = nil
		}
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if !inBlock {
				inBlock, fence = true, strings.TrimSpace(strings.TrimPrefix(line, "```"))
				if fence == "sh" || fence == "hcl" {
					sh = &docBlock{line: lineNo + 1, sh: true, hcl: fence == "hcl"}
				}
				continue
			}
			inBlock = false
			if sh != nil {
				blocks = append(blocks, *sh)
				sh = nil
			}
			flush()
			continue
		}
		if !inBlock {
			continue
		}
		switch fence {
		case "sh", "hcl":
			sh.script += line + "\n"
		case "console":
			switch {
			case cmd != nil && strings.HasSuffix(cmd.script, "\\"):
				cmd.script += "\n" + line
			case strings.HasPrefix(line, "$ "):
				flush()
				cmd = &docBlock{line: lineNo, script: strings.TrimPrefix(line, "$ "), want: []string{}}
			case cmd == nil:
				return nil, fmt.Errorf("line %d: console output before any command", lineNo)
			default:
				cmd.want = append(cmd.want, line)
			}
		}
	}
	if inBlock {
		return nil, fmt.Errorf("a block is not closed at the end")
	}
	return blocks, sc.Err()
}

// matchOutput compares a command's output with the page's, where "..."
// stands for any lines.
func matchOutput(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchOutput(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && want[0] == got[0] && matchOutput(want[1:], got[1:])
}

// outputLines splits output into lines without trailing blanks.
func outputLines(b []byte) []string {
	s := strings.TrimRight(string(b), " \t\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

func docPages(t *testing.T, root string) []string {
	pages := []string{filepath.Join(root, "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(pages, more...)
}

func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the pages start topologies")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	isolate := namespaceCommand()
	if isolate == nil {
		t.Log("no network namespace can be made here: the pages run one at a time in the host's")
	}
	for _, page := range docPages(t, root) {
		name, _ := filepath.Rel(root, page)
		t.Run(name, func(t *testing.T) {
			if isolate != nil {
				t.Parallel()
			}
			runPage(t, root, page, isolate)
		})
	}
}

// namespaceCommand is the command that runs a script in a network
// namespace of its own (as root, or in a user namespace where the kernel
// allows one), or nil where neither works.
func namespaceCommand() []string {
	for _, cmd := range [][]string{{"unshare", "--net"}, {"unshare", "--net", "--map-root-user"}} {
		if exec.Command(cmd[0], append(cmd[1:], "true")...).Run() == nil {
			return cmd
		}
	}
	return nil
}

func runPage(t *testing.T, root, page string, isolate []string) {
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseDoc(src)
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	if len(blocks) == 0 {
		return
	}
	tmp := t.TempDir()
	work := filepath.Join(tmp, "ockamtop")
	if err := copyTree(root, work); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	home := filepath.Join(tmp, "home")
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{out, home, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A page of Ockam's commands shows what a terminal shows (their plain
	// form; a pipe gets their machine form): its console blocks write to
	// a terminal, fd 3, each followed by a mark.
	onTerminal := terminalPages[filepath.Base(page)]
	var shown *terminalOutput
	if onTerminal {
		if shown, err = newTerminalOutput(); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		defer shown.close()
	}
	var script strings.Builder
	script.WriteString("ip link set lo up 2>/dev/null\n")
	script.WriteString("trap 'ockam node delete --all --yes >/dev/null 2>&1; ockamtop down >/dev/null 2>&1; kill $(jobs -p) 2>/dev/null; wait' EXIT\n")
	for i, b := range blocks {
		if b.hcl {
			file := filepath.Join(tmp, fmt.Sprintf("block%d.hcl", b.line))
			if err := os.WriteFile(file, []byte(b.script), 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&script, "ockamtop validate --compact %s >/dev/null || { echo '%s:%d: the topology is not valid'; exit 1; }\n", file, filepath.Base(page), b.line)
			continue
		}
		if b.sh {
			fmt.Fprintf(&script, "set -e\n%sset +e\n", b.script)
			continue
		}
		if onTerminal {
			fmt.Fprintf(&script, "{ %s\n} >&3 2>&3 </dev/null; printf '%s' >&3\n", b.script, blockEnd(i))
			continue
		}
		fmt.Fprintf(&script, "{ %s\n} >%s/%d 2>&1 </dev/null\n", b.script, out, i)
	}
	if onTerminal {
		fmt.Fprintf(&script, "printf '%s' >&3\n", blockEnd(-1))
	}
	script.WriteString("exit 0\n") // a console command's status is its output's to show
	scriptPath := filepath.Join(tmp, "page.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append(append([]string{}, isolate...), "bash", scriptPath)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	gocache, _ := exec.Command("go", "env", "GOCACHE").Output()
	gomodcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"OCKAMTOP_HOME=",
		"GOBIN="+bin,
		"GOFLAGS=-buildvcs=false",
		"GOCACHE="+strings.TrimSpace(string(gocache)),
		"GOMODCACHE="+strings.TrimSpace(string(gomodcache)),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	if onTerminal {
		cmd.ExtraFiles = []*os.File{shown.slave}
	}
	combined, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: the page's commands failed: %v\n%s", page, err, combined)
	}
	if onTerminal {
		if err := shown.split(out); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
	}
	for i, b := range blocks {
		if b.sh {
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i)))
		if err != nil {
			t.Errorf("%s:%d: %s: did not run (%v)", filepath.Base(page), b.line, b.script, err)
			continue
		}
		if lines := outputLines(got); !matchOutput(b.want, lines) {
			t.Errorf("%s:%d: $ %s\nthe page shows:\n%s\nit printed:\n%s", filepath.Base(page), b.line, b.script,
				strings.Join(b.want, "\n"), strings.Join(lines, "\n"))
		}
	}
}

// copyTree copies the repository at root to dir, without .git and what
// git ignores at the top (built binaries).
func copyTree(root, dir string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (d.Name() == ".git" || rel == filepath.Join("testdata", "soak")) {
			return filepath.SkipDir
		}
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

func TestParseDoc(t *testing.T) {
	src := "text\n```console\n$ ockamtop version \\\n  --json\n{\n...\n$ true\n```\n```sh\necho a\necho b\n```\n```hcl\nnode \"n\" {}\n```\n"
	blocks, err := parseDoc([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 4 {
		t.Fatalf("%d blocks: %+v", len(blocks), blocks)
	}
	if blocks[0].script != "ockamtop version \\\n  --json" || strings.Join(blocks[0].want, "|") != "{|..." {
		t.Errorf("first: %+v", blocks[0])
	}
	if blocks[1].script != "true" || len(blocks[1].want) != 0 || blocks[1].want == nil {
		t.Errorf("second: %+v", blocks[1])
	}
	if !blocks[2].sh || blocks[2].script != "echo a\necho b\n" {
		t.Errorf("third: %+v", blocks[2])
	}
	if !blocks[3].hcl || blocks[3].script != "node \"n\" {}\n" {
		t.Errorf("fourth: %+v", blocks[3])
	}
	for _, c := range []struct {
		want, got string
		ok        bool
	}{
		{"a|...|d", "a|b|c|d", true},
		{"a|...", "a", true},
		{"...|c", "a|b", false},
		{"a", "a|b", false},
		{"", "", true},
	} {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "|")
		}
		if got := matchOutput(split(c.want), split(c.got)); got != c.ok {
			t.Errorf("matchOutput(%q, %q) = %v", c.want, c.got, got)
		}
	}
}

// TestCLIReference holds docs/cli.md to the binary: each command has a
// section ("## ockamtop NAME"), whose table lists exactly the flags the
// command registers, as its help does.
func TestCLIReference(t *testing.T) {
	src, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]map[string]bool{}
	var section string
	for _, line := range strings.Split(string(src), "\n") {
		if name, ok := strings.CutPrefix(line, "## ockamtop "); ok {
			section = strings.Fields(name)[0]
			documented[section] = map[string]bool{}
			continue
		}
		if strings.HasPrefix(line, "## ") {
			section = ""
			continue
		}
		if rest, ok := strings.CutPrefix(line, "| `--"); ok && section != "" {
			name, _, _ := strings.Cut(rest, "`")
			documented[section][strings.Fields(name)[0]] = true
		}
	}
	c := &cli{}
	for _, cmd := range commands {
		flags, ok := documented[cmd.name]
		if !ok {
			t.Errorf("docs/cli.md has no section \"## ockamtop %s\"", cmd.name)
			continue
		}
		delete(documented, cmd.name)
		for _, f := range commandFlags(c, cmd) {
			if !flags[f.Name] {
				t.Errorf("ockamtop %s has --%s; docs/cli.md does not list it", cmd.name, f.Name)
			}
			delete(flags, f.Name)
		}
		for name := range flags {
			t.Errorf("docs/cli.md lists --%s for ockamtop %s, which has no such flag", name, cmd.name)
		}
	}
	for name := range documented {
		t.Errorf("docs/cli.md has a section for ockamtop %s, which is no command", name)
	}
}

// TestBenchmarksNamed holds the pages to the benchmarks they name: each
// BenchmarkX exists, and each package a `go test` line runs is there.
func TestBenchmarksNamed(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range benchFunc.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range docPages(t, root) {
		src, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range benchName.FindAllString(string(src), -1) {
			if !defined[m] {
				t.Errorf("%s names %s, which no test file defines", filepath.Base(page), m)
			}
		}
		for _, m := range goTestPackage.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
				t.Errorf("%s runs the benchmarks of %s: %v", filepath.Base(page), m[1], err)
			}
		}
	}
}

var (
	benchFunc     = regexp.MustCompile(`(?m)^func (Benchmark\w+)\(`)
	benchName     = regexp.MustCompile(`\bBenchmark[A-Z]\w*`)
	goTestPackage = regexp.MustCompile(`(?m)go test [^\n]*?\./([\w/]+)/\s*$`)
)
