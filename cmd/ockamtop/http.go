package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/topology/deploy"
	"github.com/ockamtop/ockamtop/topology/observe"
)

// apply --http ADDR: Prometheus metrics, the live page and the status
// JSON of the running topology (topology/observe). The address is bound
// before anything starts, so that one in use fails apply with nothing
// started; it is served once the nodes are up.

// listenHTTP binds --http's address, or returns nil without one. An error
// has been reported.
func (c *cli) listenHTTP(addr string) (*observe.Server, error) {
	if addr == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: --http %q: %v; it takes HOST:PORT (port 0 picks one)\n", addr, err)
		return nil, errUsage
	}
	srv, err := observe.Listen(addr)
	if err != nil {
		fmt.Fprintf(c.stderr, "✘ --http: %v\nockamtop: nothing was started\n", err)
		return nil, errInvalid
	}
	return srv, nil
}

// serveHTTP serves run on srv, and says where, on stdout and in the log.
func (c *cli) serveHTTP(srv *observe.Server, run *deploy.Running, file string, log hclog.Logger) error {
	h, err := observe.Handler(run, observe.Options{
		Status: func(ctx context.Context) any { return []controlStatus{applyStatus(ctx, run, file)} },
		Logger: log,
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "✘ --http: %v\n", err)
		return errInvalid
	}
	srv.Serve(h)
	url := "http://" + srv.Addr()
	log.Info("serving metrics and the live page", "address", srv.Addr(), "metrics", url+"/metrics", "page", url+"/")
	fmt.Fprintf(c.stdout, "✔ http %s: live page at /, metrics at /metrics, status at /api/status\n", url)
	return nil
}

// applyStatus is this apply's status, as `status --json` shows it: the
// relays' round trips measured now.
func applyStatus(ctx context.Context, run *deploy.Running, file string) controlStatus {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	st := run.Status()
	run.MeasureRelays(ctx, &st)
	return controlStatus{PID: os.Getpid(), File: file, Path: abs, Status: st}
}
