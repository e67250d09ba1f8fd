package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The packages and their imports, as `go list` sees them, keep to the
// layers that docs/architecture.md draws: every package is in a layer,
// and imports only packages of the layers below its own.
func TestLayout(t *testing.T) {
	layers := readLayers(t, "../../docs/architecture.md")
	layerOf := map[string]int{}
	for i, pkgs := range layers {
		for _, p := range pkgs {
			layerOf[p] = i
		}
	}
	const module = "github.com/ockamtop/ockamtop/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		seen[pkg] = true
		layer, ok := layerOf[pkg]
		if !ok {
			t.Errorf("package %s is in no layer of docs/architecture.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if l, ok := layerOf[dep]; ok && l <= layer {
				t.Errorf("%s imports %s, which is not in a layer below it", pkg, dep)
			}
		}
	}
	for p := range layerOf {
		if !seen[p] {
			t.Errorf("docs/architecture.md names %s, which go list does not know", p)
		}
	}
}

// readLayers reads the ```layers block of a page: a line a layer, top
// first, each the packages of the layer before a # comment.
func readLayers(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var layers [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```layers":
			in = true
		case in && line == "```":
			in = false
		case in:
			pkgs, _, _ := strings.Cut(line, "#")
			if f := strings.Fields(pkgs); len(f) > 0 {
				layers = append(layers, f)
			}
		}
	}
	if len(layers) == 0 || slices.ContainsFunc(layers, func(l []string) bool { return len(l) == 0 }) {
		t.Fatalf("%s has no ```layers block", path)
	}
	return layers
}
