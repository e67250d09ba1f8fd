package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// The control endpoint of a running apply: HTTP over a unix socket that only
// the local user can use (mode 0600, in a 0700 directory), at
// $OCKAMTOP_HOME/run/PID.sock. status, message send and down talk to it.
//
//	GET  /status   -> controlStatus
//	POST /message  messageRequest -> messageReply
//	POST /down     stops the apply
//	POST /plan     reconcileRequest -> reconcileReply (reconcile.go)
//	POST /apply    reconcileRequest -> reconcileReply

// homeDir is $OCKAMTOP_HOME, or ~/.ockamtop.
func (c *cli) homeDir() (string, error) {
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "OCKAMTOP_HOME="); ok && v != "" {
			return v, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory (set OCKAMTOP_HOME): %w", err)
	}
	return filepath.Join(home, ".ockamtop"), nil
}

func (c *cli) runDir() (string, error) {
	home, err := c.homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "run"), nil
}

// controlStatus is what GET /status answers.
type controlStatus struct {
	PID int `json:"pid"`
	// File is the topology file as apply was given it; Path is its
	// absolute path.
	File string `json:"file"`
	Path string `json:"path"`
	deploy.Status
}

type messageRequest struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message"`
	Timeout string `json:"timeout"`
}

type messageReply struct {
	Reply string `json:"reply"`
	Error string `json:"error,omitempty"`
	// RouteError is set for a route the plan cannot walk, which the CLI
	// shows as a diagnostic.
	RouteError *deploy.RouteError `json:"route_error,omitempty"`
}

// controlServer serves a running topology's control endpoint.
type controlServer struct {
	path string
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// maxSocketPath is the longest path a unix socket may have here: the
// kernel's sun_path (108 bytes on Linux, 104 on the BSDs and macOS) less
// its terminating NUL.
var maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// maxPIDDigits is the length of the longest pid (Linux's pid_max is at most
// 4194304), for a socket whose process is not started yet.
const maxPIDDigits = 7

// controlSocket is the path of the control socket of process pid (0: any
// process), made sure to fit a unix socket path, and its directory made.
// apply calls it before it starts anything, so that a long $OCKAMTOP_HOME
// is refused at once.
func (c *cli) controlSocket(pid int) (string, error) {
	dir, err := c.runDir()
	if err != nil {
		return "", err
	}
	name := strings.Repeat("9", maxPIDDigits) + ".sock"
	if pid > 0 {
		name = strconv.Itoa(pid) + ".sock"
	}
	path := filepath.Join(dir, name)
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("control socket %s would be %d bytes long, and a unix socket path has at most %d bytes here; set OCKAMTOP_HOME to a directory of at most %d bytes",
			path, len(path), maxSocketPath, maxSocketPath-len(path)+len(c.mustHome()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("control endpoint: %w", err)
	}
	return path, nil
}

// mustHome is homeDir for a caller that has already found it.
func (c *cli) mustHome() string {
	h, _ := c.homeDir()
	return h
}

// startControl serves the control endpoint of run on the socket path;
// more register more handlers.
func startControl(path, file string, run *deploy.Running, down func(), more ...func(*http.ServeMux)) (*controlServer, error) {
	_ = os.Remove(path) // a stale socket of an earlier process with our pid
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, applyStatus(r.Context(), run, file))
	})
	mux.HandleFunc("POST /message", func(w http.ResponseWriter, r *http.Request) {
		var req messageRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, messageReply{Error: "bad request: " + err.Error()})
			return
		}
		timeout, err := time.ParseDuration(req.Timeout)
		if err != nil || timeout <= 0 {
			timeout = defaultMessageTimeout
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		reply, err := run.Send(ctx, req.From, req.To, wire.EncodeString(req.Message))
		if re, ok := errors.AsType[*deploy.RouteError](err); ok {
			writeJSON(w, messageReply{Error: err.Error(), RouteError: re})
			return
		}
		if err != nil {
			if he, ok := errors.AsType[*deploy.HopError](err); ok {
				he.Wait = timeout // what the user asked for, not what was left of it
			} else if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no reply within %s: %w", timeout, err)
			}
			writeJSON(w, messageReply{Error: err.Error()})
			return
		}
		s, err := wire.String(reply)
		if err != nil {
			s = string(reply) // not a BARE string: show the bytes as they are
		}
		writeJSON(w, messageReply{Reply: s})
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]bool{"stopping": true})
		down()
	})
	for _, f := range more {
		f(mux)
	}
	s := &controlServer{path: path, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the endpoint, removes its socket and waits for the server.
func (s *controlServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
	_ = os.Remove(s.path)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// controlClient talks to one running apply.
type controlClient struct {
	path string
	http *http.Client
}

func newControlClient(path string) *controlClient {
	return &controlClient{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

func (c *controlClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ockamtop"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control endpoint %s: %s", c.path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
