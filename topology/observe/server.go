package observe

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ockamtop/ockamtop/topology/deploy"
)

// What `apply --http ADDR` serves:
//
//	GET /            the live page (page/index.html, page/live.js)
//	GET /metrics     Prometheus text format
//	GET /api/status  the JSON of `ockamtop status --json`
//	GET /api/graph   Live: the graph with each part's state and bytes

//go:embed page
var pageFiles embed.FS

// Options configure Handler.
type Options struct {
	// Status answers /api/status: what `status --json` prints for this
	// apply.
	Status func(ctx context.Context) any
	// Logger receives the errors of scrapes.
	Logger hclog.Logger
}

// Handler serves the metrics, the page and the JSON of run.
func Handler(run *deploy.Running, o Options) (http.Handler, error) {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		NewCollector(run),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	page, err := fs.Sub(pageFiles, "page")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: log.New(o.Logger.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}), "metrics: ", 0),
		// One bad series (logged) must not blank the others.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /api/graph", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, LiveGraph(run))
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		if o.Status == nil {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, o.Status(r.Context()))
	})
	mux.Handle("GET /", http.FileServerFS(page))
	return mux, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Server is the HTTP server of --http. Listen binds before anything
// starts, so that an address in use fails at once; Serve serves once there
// is something to show.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Listen binds addr ("127.0.0.1:9464"; port 0 picks a free port).
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &Server{ln: ln}, nil
}

// Addr is the bound address, with the real port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves h until Close.
func (s *Server) Serve(h http.Handler) {
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.ln)
	}()
}

// Close stops the server, or only the listener if it never served, and
// waits for it.
func (s *Server) Close() {
	if s.srv == nil {
		_ = s.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		_ = s.srv.Close() // a page still polling does not hold the stop
	}
	<-s.done
}
