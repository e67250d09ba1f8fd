package observe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browsers are the names a headless-capable Chromium goes by: Debian's
// package, other distributions', Google's build, chromedp's headless-shell.
var browsers = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// findBrowser returns the path of a Chromium, or skips the test.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range browsers {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skipf("no browser to test the live page in: none of %v is on PATH (install Debian's chromium package; .ci/run does)", browsers)
	return ""
}

// freePort is a loopback port that was free a moment ago, for a listener
// another process (here, another Running) must know in advance.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The live page in a real browser: the nodes of a relay topology appear,
// the relay edge is up, and turns down when n3 (which runs elsewhere, here
// in a second Running) stops its relay.
func TestPageInBrowser(t *testing.T) {
	browser := findBrowser(t)
	src := fmt.Sprintf(`
node "n2" {
  tcp_listener = "127.0.0.1:%d"
}
node "n3" {
  relay "n3" {
    at = node.n2
  }
  tcp_outlet "outlet" {
    to = %q
  }
}
node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
}
`, freePort(t), echoTarget(t))
	here := start(t, src, "n1", "n2")
	n3 := start(t, src, "n3")
	h, err := Handler(here, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1100, 700))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	edge := `document.querySelector('g.edge[data-kind="relay"][data-from="n3"][data-to="n2"]')`
	err = chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`g.node[data-node="n1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`g.node[data-node="n2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`g.node[data-node="n3"]`)),
	)
	if err != nil {
		t.Fatalf("the nodes on the page of a running relay topology: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](edge+`?.dataset.state === "up"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the relay edge n3 -> n2 up: %v", err)
	}
	label, err := chromedp.Run(bctx, chromedp.Evaluate[string](edge+`.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("relay edge: %s", label)

	// Traffic through the portal: the inlet and the relay edge show a rate.
	client, err := net.Dial("tcp", here.Inlets()["n1.web"])
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Go(func() { _, _ = io.Copy(io.Discard, client) })
	traffic.Go(func() {
		chunk := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := client.Write(chunk); err != nil {
				return
			}
		}
	})
	stopTraffic := sync.OnceFunc(func() {
		close(stop)
		client.Close() // ends the reader, and a writer blocked in Write
		traffic.Wait()
	})
	defer stopTraffic()
	inlet := `document.querySelector('g.end[data-end="inlet_n1_web"]')`
	for what, expr := range map[string]string{
		"the inlet's rate and stream": inlet + `?.dataset.streams === "1" && Number(` + inlet + `.dataset.rate) > 0`,
		"the relay edge's rate":       `Number(` + edge + `?.dataset.rate) > 0`,
		"a rate in the relay's label": `/· [0-9.]+ [KMG]?B\/s/.test(` + edge + `?.textContent) && !/· 0 B\/s/.test(` + edge + `.textContent)`,
	} {
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	stopTraffic()

	// n3's relay stops: its connection closes, and n2 drops the forwarder.
	n3.Parts().Relays[0].Relay.Close()
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](edge+`?.dataset.state === "down"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the relay edge down after n3 stopped: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "live-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if keep := os.Getenv("OCKAMTOP_SCREENSHOT"); keep != "" {
		// To look at it: the temporary directory goes with the test.
		if err := os.WriteFile(keep, shot, 0o644); err != nil {
			t.Error(err)
		}
	}
	if len(shot) < 1000 {
		t.Errorf("screenshot of %d bytes: no picture", len(shot))
	}
	if err := chromedp.Cancel(bctx); err != nil {
		t.Errorf("close the browser: %v", err)
	}
}
