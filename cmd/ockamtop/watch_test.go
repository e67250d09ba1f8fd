package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A save is reported once its content has been quiet for the debounce
// time; a save of the same content, or none, is not reported.
func TestFileWatchDebounces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.hcl")
	write := func(s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write(`node "a" {}`, base)
	w := newFileWatch(path, time.Millisecond, 300*time.Millisecond)
	now := time.Now()
	if w.poll(now) {
		t.Fatal("reported a change before any save")
	}
	// A save in two writes: the first half, then the whole.
	write(`node "a" {`, base.Add(time.Second))
	if w.poll(now) {
		t.Fatal("reported a change at once")
	}
	write(`node "a" {}`+"\n"+`node "b" {}`, base.Add(2*time.Second))
	if w.poll(now.Add(200 * time.Millisecond)) {
		t.Fatal("reported a change before it was quiet")
	}
	if w.poll(now.Add(400 * time.Millisecond)) {
		t.Fatal("reported a change 200ms after the last write")
	}
	if !w.poll(now.Add(600 * time.Millisecond)) {
		t.Fatal("did not report a change quiet for 300ms")
	}
	if w.poll(now.Add(time.Second)) {
		t.Fatal("reported the same change twice")
	}
	// The same content saved again (a new time): nothing to apply.
	write(`node "a" {}`+"\n"+`node "b" {}`, base.Add(3*time.Second))
	if w.poll(now.Add(2*time.Second)) || w.poll(now.Add(3*time.Second)) {
		t.Fatal("reported a save that changed nothing")
	}
	// Back to the first content: a change again.
	write(`node "a" {}`, base.Add(4*time.Second))
	w.poll(now.Add(4 * time.Second))
	if !w.poll(now.Add(5 * time.Second)) {
		t.Fatal("did not report a change back to the first content")
	}
}

// A directory's files are watched, and a file added to it is a change.
func TestFileWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(`node "a" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newFileWatch(dir, time.Millisecond, 0)
	now := time.Now()
	if w.poll(now) {
		t.Fatal("reported a change before any save")
	}
	if err := os.WriteFile(filepath.Join(dir, ".hidden.hcl"), []byte(`x`), 0o644); err != nil {
		t.Fatal(err)
	}
	if w.poll(now.Add(time.Second)) {
		t.Fatal("a hidden file is a change")
	}
	if err := os.WriteFile(filepath.Join(dir, "b.hcl"), []byte(`node "b" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if !w.poll(now.Add(2 * time.Second)) { // no quiet time asked
		t.Fatal("a new file is not a change")
	}
}

func TestMergeVars(t *testing.T) {
	got := mergeVars([]string{"a=1", "b=2"}, []string{"b=3", "c=4", "a=5"})
	want := []string{"a=5", "b=3", "c=4"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := mergeVars([]string{"a=1"}, nil); len(got) != 1 || got[0] != "a=1" {
		t.Fatalf("nothing given: %q", got)
	}
}
