package export

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The export runs on a real engine: built into an image FROM scratch,
// deployed on a single-node Swarm with docker stack deploy and with
// docker-compose, the secure portal of testdata/engine.hcl serves its page
// at the published inlet; from inside n1's container n3 cannot be dialed,
// while the relay path works; n2 killed comes back; and nothing is left
// once the stack is removed. It needs a Docker engine that is a Swarm
// manager (testdata/engine/up.sh makes one, as root; .ci/run runs it),
// and skips, saying why, where there is none.
func TestEngine(t *testing.T) {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		// Debian's client, the engine's own version (a newer one earlier
		// on the PATH lacks the builder and the stack commands' defaults).
		docker = "/usr/bin/docker"
	}
	if testing.Short() {
		t.Skip("-short: builds an image and deploys it")
	}
	if raceEnabled {
		t.Skip("the race detector's run: the engine test runs once, in the plain run (the binaries it deploys are never instrumented)")
	}
	if out, err := exec.Command(docker, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers (run testdata/engine/up.sh as root): %v: %s", err, bytes.TrimSpace(out))
	} else if strings.TrimSpace(string(out)) != "active true" {
		t.Skipf("the Docker engine is no Swarm manager (%s): run testdata/engine/up.sh", bytes.TrimSpace(out))
	}
	image := buildImage(t)
	port := freeHostPort(t)
	dir := t.TempDir()
	ockamtop := filepath.Join(dir, "ockamtop")
	build(t, ockamtop, "../../cmd/ockamtop")
	out := filepath.Join(dir, "export")
	run(t, "", ockamtop, "export", "compose", "--out", out, "--image", image, "--var", "inlet_port="+port, "testdata/engine.hcl")
	page := "http://127.0.0.1:" + port + "/"

	t.Run("swarm", func(t *testing.T) {
		stack := fmt.Sprintf("ockamtoptest%d", rand.IntN(1e6))
		start := time.Now()
		run(t, out, docker, "stack", "deploy", "--resolve-image", "never", "-c", "compose.yaml", stack)
		t.Cleanup(func() { removeStack(t, stack) })
		waitPage(t, page, 3*time.Minute)
		t.Logf("docker stack deploy to the first page through the portal: %.1f s", time.Since(start).Seconds())

		n1 := container(t, "com.docker.stack.namespace="+stack, stack+"_n1")
		if got, err := output(docker, "exec", n1, "/web", "-dial", "n3:9000"); err == nil {
			t.Errorf("from n1's container, n3 answers directly: %s", got)
		}
		if got, err := output(docker, "exec", n1, "/web", "-get", "http://127.0.0.1:"+port+"/"); err != nil || !strings.Contains(got, "hello through the portal") {
			t.Errorf("from n1's container, through the relay: %v: %s", err, got)
		}
		status, err := output(docker, "exec", container(t, "com.docker.stack.namespace="+stack, stack+"_n3"), "/ockamtop", "status")
		if err != nil || !strings.Contains(status, "up") {
			t.Errorf("ockamtop status in n3's container: %v\n%s", err, status)
		}

		// n2, the relay node, killed: Swarm starts it again, and the
		// relay registers again.
		n2 := container(t, "com.docker.stack.namespace="+stack, stack+"_n2")
		run(t, "", docker, "kill", n2)
		start = time.Now()
		waitFor(t, "n2's container to be replaced", 2*time.Minute, func() bool {
			c, _ := output(docker, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_n2")
			return c != "" && !strings.HasPrefix(n2, strings.TrimSpace(c))
		})
		waitPage(t, page, 2*time.Minute)
		t.Logf("n2 killed to the page again: %.1f s", time.Since(start).Seconds())
	})

	t.Run("compose", func(t *testing.T) {
		if _, err := exec.LookPath("docker-compose"); err != nil {
			t.Skip("no docker-compose")
		}
		project := fmt.Sprintf("ockamtoptest%d", rand.IntN(1e6))
		start := time.Now()
		run(t, out, "docker-compose", "-p", project, "-f", "compose.yaml", "up", "-d")
		t.Cleanup(func() {
			run(t, out, "docker-compose", "-p", project, "-f", "compose.yaml", "down", "--volumes", "--remove-orphans")
			for _, what := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}} {
				if left, _ := output(docker, append(what, "--filter", "label=com.docker.compose.project="+project)...); left != "" {
					t.Errorf("docker-compose down left %v: %s", what, left)
				}
			}
		})
		waitPage(t, page, 3*time.Minute)
		t.Logf("docker-compose up to the first page through the portal: %.1f s", time.Since(start).Seconds())
	})
}

// docker is the Docker client the test runs.
var docker = "docker"

// buildImage builds the repository's Dockerfile from a static ockamtop,
// then an image FROM it with the test's /web, and returns its name.
func buildImage(t *testing.T) string {
	t.Helper()
	tag := fmt.Sprintf("ockamtop-enginetest:%d", rand.IntN(1e6))
	base := t.TempDir()
	build(t, filepath.Join(base, "ockamtop"), "../../cmd/ockamtop")
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "Dockerfile"), dockerfile, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, base, docker, "build", "-q", "-t", tag+"-base", ".")
	withWeb := t.TempDir()
	build(t, filepath.Join(withWeb, "web"), "./testdata/web")
	if err := os.WriteFile(filepath.Join(withWeb, "Dockerfile"), []byte("FROM "+tag+"-base\nCOPY web /web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, withWeb, docker, "build", "-q", "-t", tag, ".")
	t.Cleanup(func() { _, _ = output(docker, "rmi", tag, tag+"-base") })
	return tag
}

// build builds a static binary of pkg.
func build(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

func output(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(b)), err
}

// container is the one running container of a stack's service.
func container(t *testing.T, _, service string) string {
	t.Helper()
	var id string
	waitFor(t, "a container of "+service, time.Minute, func() bool {
		id, _ = output(docker, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service)
		return id != "" && !strings.Contains(id, "\n")
	})
	return id
}

// removeStack removes a stack and checks that nothing of it is left.
func removeStack(t *testing.T, stack string) {
	t.Helper()
	if b, err := exec.Command(docker, "stack", "rm", stack).CombinedOutput(); err != nil {
		t.Errorf("docker stack rm: %v\n%s", err, b)
	}
	label := "label=com.docker.stack.namespace=" + stack
	waitFor(t, "the stack to be gone", 2*time.Minute, func() bool {
		for _, what := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"secret", "ls", "-q"}, {"service", "ls", "-q"}} {
			if left, _ := output(docker, append(what, "--filter", label)...); left != "" {
				return false
			}
		}
		return true
	})
}

// waitPage waits until the page answers through the portal.
func waitPage(t *testing.T, url string, within time.Duration) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("the last answer at %s: %s", url, last)
		}
	}()
	waitFor(t, "the page at "+url, within, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = string(b)
		return strings.Contains(last, "hello through the portal")
	})
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", within, what)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// freeHostPort is a port below the ephemeral range that nothing on the
// host listens on: the inlet's, published.
func freeHostPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		p := strconv.Itoa(20000 + rand.IntN(12000))
		if ln, err := net.Listen("tcp", "127.0.0.1:"+p); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return ""
}
