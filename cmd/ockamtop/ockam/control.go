package ockam

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
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// A node's process answers the commands on a control socket: HTTP over a
// unix socket of mode 0600 in a 0700 directory, at run/PID.sock.
//
//	GET  /status     -> nodeStatus
//	POST /reconcile  runs the session file as it is now -> reconcileReply
//	                 (a file that has not changed since is not planned again)
//	POST /message    messageRequest -> messageReply
//	POST /stop       stops the node's process
//	POST /channel/close  channelCloseRequest -> channelCloseReply: closes
//	                 the node's open secure channel over a route

// nodeStatus is what GET /status answers.
type nodeStatus struct {
	PID    int                `json:"pid"`
	Status *deploy.NodeStatus `json:"status"`
}

type reconcileReply struct {
	Error string `json:"error,omitempty"`
}

type messageRequest struct {
	To      string `json:"to"`
	Message []byte `json:"message"`
	Timeout string `json:"timeout"`
}

type channelCloseRequest struct {
	Route string `json:"route"`
}

type channelCloseReply struct {
	Closed bool   `json:"closed"`
	Error  string `json:"error,omitempty"`
}

type messageReply struct {
	Reply []byte `json:"reply"`
	Error string `json:"error,omitempty"`
}

// controlServer serves a node process's control socket.
type controlServer struct {
	path string
	srv  *http.Server
	done chan struct{}
}

// serveControl serves node on the socket path. reconcile applies the
// session file; stop ends the process.
func serveControl(path, node string, run *deploy.Running, reconcile func(context.Context) error, stop func()) (*controlServer, error) {
	if err := os.MkdirAll(pathDir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	_ = os.Remove(path) // a stale socket of an earlier process with our pid
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := nodeStatus{PID: os.Getpid()}
		for _, n := range run.Status().Nodes {
			if n.Name == node {
				st.Status = &n
			}
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /reconcile", func(w http.ResponseWriter, r *http.Request) {
		var reply reconcileReply
		if err := reconcile(r.Context()); err != nil {
			reply.Error = err.Error()
		}
		writeJSON(w, reply)
	})
	mux.HandleFunc("POST /message", func(w http.ResponseWriter, r *http.Request) {
		var req messageRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, messageReply{Error: "bad request: " + err.Error()})
			return
		}
		timeout, err := time.ParseDuration(req.Timeout)
		if err != nil || timeout <= 0 {
			timeout = defaultTimeout
		}
		// The route is walked on this node's plan: first the session as
		// it is now, which other nodes' commands may have changed.
		if err := reconcile(r.Context()); err != nil {
			writeJSON(w, messageReply{Error: "apply the session's changes: " + err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		reply, err := run.Send(ctx, node, req.To, wire.EncodeString(string(req.Message)))
		if err != nil {
			writeJSON(w, messageReply{Error: sendError(err, timeout)})
			return
		}
		writeJSON(w, messageReply{Reply: reply})
	})
	mux.HandleFunc("POST /channel/close", func(w http.ResponseWriter, r *http.Request) {
		var req channelCloseRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, channelCloseReply{Error: "bad request: " + err.Error()})
			return
		}
		// The route's nodes as the session has them now, as when the
		// channel was opened (POST /message).
		if err := reconcile(r.Context()); err != nil {
			writeJSON(w, channelCloseReply{Error: "apply the session's changes: " + err.Error()})
			return
		}
		sc := run.Parts().SecureChannels[node]
		if sc == nil {
			writeJSON(w, channelCloseReply{})
			return
		}
		closed, err := closeChannel(run.Topology(), sc, req.Route)
		if err != nil {
			writeJSON(w, channelCloseReply{Error: err.Error()})
			return
		}
		writeJSON(w, channelCloseReply{Closed: closed})
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]bool{"stopping": true})
		stop()
	})
	s := &controlServer{path: path, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// sendError words a message send's failure.
func sendError(err error, timeout time.Duration) string {
	if he, ok := errors.AsType[*deploy.HopError](err); ok {
		he.Wait = timeout
	} else if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no reply within %s", timeout)
	}
	return err.Error()
}

// Close stops serving, removes the socket and waits for the server.
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

func pathDir(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}

// call makes one request to the node process at the socket path.
func call(ctx context.Context, path, method, what string, in, out any) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	defer client.CloseIdleConnections()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ockam"+what, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control socket %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
