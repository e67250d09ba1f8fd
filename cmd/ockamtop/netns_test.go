package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Without the privilege to make network namespaces (an injected check
// says so) and without a user namespace to get it in, a file with
// networks is valid and apply exits 1 before it starts anything, saying
// what is missing.
func TestApplyNetworksWithoutPrivilege(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lan.hcl")
	src := `
network "lan" {}
node "a" {
  networks     = [network.lan]
  tcp_listener = "0.0.0.0:7000"
  exec "web" {
    command = ["sleep", "1000"]
  }
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, env: []string{"OCKAMTOP_HOME=" + filepath.Join(dir, "home")},
		netPrivilege:  func() error { return errors.New("this process lacks CAP_NET_ADMIN") },
		userNamespace: func() (int, error) { return 0, errors.New("user namespaces are off") }}
	if code := c.main([]string{"validate", file}); code != 0 {
		t.Fatalf("validate: exit %d: %s", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := c.main([]string{"apply", file}); code != 1 {
		t.Fatalf("apply: exit %d, want 1", code)
	}
	if stdout.Len() > 0 {
		t.Errorf("apply started something: %s", stdout.String())
	}
	want := "✘ networks (lan) need Linux network namespaces, which need CAP_SYS_ADMIN and CAP_NET_ADMIN (run apply as root): this process lacks CAP_NET_ADMIN; and no user namespace: user namespaces are off\nockamtop: nothing was started\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
}

// Without the privilege but with a user namespace, apply is the command
// run again there (injected: it exits 3): its exit code is apply's, and
// this process started nothing.
func TestApplyNetworksInUserNamespace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lan.hcl")
	if err := os.WriteFile(file, []byte("network \"lan\" {}\nnode \"a\" {\n  networks = [network.lan]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ran := 0
	c := &cli{stdout: &stdout, stderr: &stderr, env: []string{"OCKAMTOP_HOME=" + filepath.Join(dir, "home")},
		netPrivilege:  func() error { return errors.New("this process lacks CAP_NET_ADMIN") },
		userNamespace: func() (int, error) { ran++; return 3, nil }}
	if code := c.main([]string{"check", file}); code != 3 || ran != 1 {
		t.Fatalf("check: exit %d after %d runs, want 3 after 1", code, ran)
	}
	if stdout.Len()+stderr.Len() > 0 {
		t.Errorf("output: %q %q", stdout.String(), stderr.String())
	}
}
