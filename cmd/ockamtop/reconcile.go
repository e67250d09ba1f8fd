package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/deploy"
	"github.com/ockamtop/ockamtop/topology/observe"
)

// Changing a running apply. An apply keeps its file's path, its --var
// values and its --node names; what changes the running topology is the
// file as it is now on disk:
//
//   - `ockamtop plan FILE`, while an apply of the same file (by absolute
//     path) runs, asks it for the difference (POST /plan);
//   - `ockamtop apply FILE`, while an apply of the same file with the same
//     --node names runs, asks it to apply the difference (POST /apply)
//     and exits once it is done;
//   - SIGHUP to the apply, and with `apply --watch` every save of the
//     file, do the same from within.
//
// --var values given to plan or apply are added to the running apply's,
// a value given again replacing the old one; the apply keeps them once
// applied. The file is read by the running apply, with its environment,
// so that the difference is exactly what it would apply.

// reconcileRequest is what POST /plan and POST /apply take.
type reconcileRequest struct {
	Vars []string `json:"vars"`
	// Nodes are the caller's --node names; for /apply they must be the
	// running apply's.
	Nodes   []string `json:"nodes"`
	Compact bool     `json:"compact"`
}

// reconcileReply is what POST /plan and POST /apply answer.
type reconcileReply struct {
	// NodesDiffer: the apply runs other --node names; it is not the one
	// to change.
	NodesDiffer bool `json:"nodes_differ,omitempty"`
	// Diagnostics are those of a file that does not load, rendered.
	Diagnostics string         `json:"diagnostics,omitempty"`
	Diff        *topology.Diff `json:"diff,omitempty"`
	// Progress are the lines of what was stopped, started, changed.
	Progress []string             `json:"progress,omitempty"`
	Checks   []deploy.CheckResult `json:"checks,omitempty"`
	// Error is a difference that failed to apply: the running topology
	// is as it was, unless RollbackFailed.
	Error string `json:"error,omitempty"`
	// RollbackFailed: undoing the failed difference failed too.
	RollbackFailed bool `json:"rollback_failed,omitempty"`
	// Ready is the apply's ready information after the change.
	Ready *readyInfo `json:"ready,omitempty"`
}

// reconciler changes a running apply.
type reconciler struct {
	// ctx ends with the apply: a change under way is given up (and
	// undone) when the apply is told to stop.
	ctx       context.Context
	c         *cli
	path      string
	nodes     []string
	run       *deploy.Running
	log       hclog.Logger
	readyFile string
	// web is the apply's --http server, nil without; its address stays
	// in the ready file.
	web *observe.Server
	// hup receives SIGHUP from the moment the reconciler exists, before
	// the apply says it is up: one sent then must not end the apply.
	hup chan os.Signal

	mu   sync.Mutex // one plan or apply at a time
	vars []string   // guarded by mu; the apply's --var values
}

// newReconciler makes the reconciler of a running apply of path.
func (c *cli) newReconciler(ctx context.Context, path string, f *runFlags, run *deploy.Running, readyFile string) *reconciler {
	log, err := c.logger(f.logLevel, f.logFormat)
	if err != nil { // apply has checked the level already
		log = hclog.NewNullLogger()
	}
	rc := &reconciler{ctx: ctx, c: c, path: path, nodes: f.nodes, run: run, log: log, readyFile: readyFile, vars: slices.Clone(f.vars),
		hup: make(chan os.Signal, 1)}
	signal.Notify(rc.hup, syscall.SIGHUP)
	return rc
}

// handlers registers POST /plan and POST /apply on the control endpoint.
func (rc *reconciler) handlers(mux *http.ServeMux) {
	decode := func(w http.ResponseWriter, r *http.Request) (reconcileRequest, bool) {
		var req reconcileRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, reconcileReply{Error: "bad request: " + err.Error()})
			return req, false
		}
		return req, true
	}
	mux.HandleFunc("POST /plan", func(w http.ResponseWriter, r *http.Request) {
		if req, ok := decode(w, r); ok {
			writeJSON(w, rc.plan(req))
		}
	})
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		req, ok := decode(w, r)
		if !ok {
			return
		}
		if !slices.Equal(sortedCopy(req.Nodes), sortedCopy(rc.nodes)) {
			writeJSON(w, reconcileReply{NodesDiffer: true})
			return
		}
		// Not the request's context: a client that gives up must not
		// leave a change half made. The apply's own end stops it.
		writeJSON(w, rc.apply(rc.ctx, req.Vars, req.Compact, "'ockamtop apply'"))
	})
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// load reads the file as the running apply would start it, with its
// variables and vars on top. It returns the plan and the local nodes, or
// the rendered diagnostics of a file that does not load.
func (rc *reconciler) load(vars []string, compact bool) (*topology.Topology, map[string]bool, string) {
	var out bytes.Buffer
	sub := &cli{stdout: &out, stderr: &out, env: rc.c.env}
	t := sub.loadForRun(rc.path, &fileFlags{vars: vars, compact: compact})
	if t == nil {
		return nil, nil, out.String()
	}
	local, diags := t.Subset(rc.nodes)
	if len(diags) > 0 {
		writeDiagnostics(&out, diags, nil, true)
		return nil, nil, out.String()
	}
	return t, local, ""
}

// plan answers the difference between the running topology and the file.
func (rc *reconciler) plan(req reconcileRequest) reconcileReply {
	rc.mu.Lock()
	vars := mergeVars(rc.vars, req.Vars)
	rc.mu.Unlock()
	t, _, diags := rc.load(vars, req.Compact)
	if t == nil {
		return reconcileReply{Diagnostics: diags}
	}
	return reconcileReply{Diff: topology.Compare(rc.run.Topology(), t)}
}

// apply applies the difference between the running topology and the
// file, runs the checks it adds or changes, and says so on the apply's
// output. why says who asked, for the output.
func (rc *reconciler) apply(ctx context.Context, extra []string, compact bool, why string) reconcileReply {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.c.stdout
	vars := mergeVars(rc.vars, extra)
	t, local, diags := rc.load(vars, compact)
	if t == nil {
		fmt.Fprintf(rc.c.stderr, "%sockamtop: %s (%s) has errors; nothing was changed\n", diags, rc.path, why)
		rc.log.Warn("topology file has errors; nothing was changed", "file", rc.path, "by", why)
		return reconcileReply{Diagnostics: diags}
	}
	// The difference Reconcile will apply: nothing else reconciles this
	// apply while mu is held.
	if d := topology.Compare(rc.run.Topology(), t); d.HasChanges() {
		fmt.Fprintf(out, "ockamtop: applying %s (%s):\n", rc.path, why)
		for _, l := range d.Lines() {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	var reply reconcileReply
	d, err := rc.run.Reconcile(ctx, t, local, deploy.ReconcileOptions{
		Progress: func(line string) { reply.Progress = append(reply.Progress, line) },
	})
	reply.Diff = d
	if err != nil {
		reply.Error = err.Error()
		if _, partly := errors.AsType[*deploy.RollbackError](err); partly {
			reply.RollbackFailed = true
			fmt.Fprintf(rc.c.stderr, "✘ %v\nockamtop: the change from %s (%s) failed, and so did undoing it: the running topology is not as it was; 'ockamtop status' shows what runs\n", err, rc.path, why)
			rc.log.Error("reconcile failed, and its rollback too", "file", rc.path, "by", why, "error", err)
			return reply
		}
		fmt.Fprintf(rc.c.stderr, "✘ %v\nockamtop: the change from %s (%s) failed; the running topology is as it was\n", err, rc.path, why)
		rc.log.Warn("reconcile failed; the running topology is as it was", "file", rc.path, "by", why, "error", err)
		return reply
	}
	rc.vars = vars
	if !d.HasChanges() {
		fmt.Fprintf(out, "ockamtop: %s (%s): no changes\n", rc.path, why)
		reply.Ready = rc.ready()
		return reply
	}
	fmt.Fprintf(out, "✔ applied %s (%s): %d added, %d changed, %d removed\n", rc.path, why, d.Add, d.Change, d.Remove)
	rc.log.Info("topology reconciled", "file", rc.path, "by", why, "added", d.Add, "changed", d.Change, "removed", d.Remove)
	reply.Checks = rc.run.RunChecksOf(ctx, d)
	printChecks(out, reply.Checks)
	reply.Ready = rc.ready()
	if rc.readyFile != "" {
		if err := writeReady(rc.readyFile, rc.run, rc.web); err != nil {
			fmt.Fprintf(rc.c.stderr, "✘ ready file: %v\n", err)
		}
	}
	return reply
}

// ready is the apply's ready information now.
func (rc *reconciler) ready() *readyInfo {
	info := newReadyInfo(rc.run, rc.web)
	return &info
}

// mergeVars returns vars with extra on top: a NAME given again replaces
// its old value, in its old place.
func mergeVars(vars, extra []string) []string {
	out := slices.Clone(vars)
	for _, e := range extra {
		name, _, _ := strings.Cut(e, "=")
		i := slices.IndexFunc(out, func(v string) bool {
			n, _, _ := strings.Cut(v, "=")
			return n == name
		})
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// sameFile returns the running applies of the file at path, by absolute
// path.
func sameFile(a *applies, path string) []runningApply {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	var out []runningApply
	for _, r := range a.running {
		if r.status.Path == abs {
			out = append(out, r)
		}
	}
	return out
}

// reconcileRunning is `apply FILE` while an apply of FILE with the same
// --node names runs: it asks that apply to apply the difference, prints
// what it did, and reports handled. Otherwise it does nothing, and apply
// starts the file as usual.
func (c *cli) reconcileRunning(path string, f *runFlags, readyFile string) (handled bool, err error) {
	a, err := c.findApplies(context.Background())
	if err != nil {
		return false, nil // no run directory: nothing runs
	}
	for _, r := range sameFile(a, path) {
		var reply reconcileReply
		req := reconcileRequest{Vars: f.vars, Nodes: f.nodes, Compact: f.compact}
		if err := r.client.call(context.Background(), "POST", "/apply", req, &reply); err != nil {
			fmt.Fprintf(c.stderr, "ockamtop apply: %s: %v\n", r, err)
			return true, errInvalid
		}
		if reply.NodesDiffer {
			continue
		}
		return true, c.printApplied(r, reply, readyFile)
	}
	return false, nil
}

// printApplied prints what a running apply did with the file.
func (c *cli) printApplied(r runningApply, reply reconcileReply, readyFile string) error {
	if reply.Diagnostics != "" {
		fmt.Fprint(c.stderr, reply.Diagnostics)
		fmt.Fprintf(c.stderr, "ockamtop apply: nothing was changed in %s\n", r)
		return errInvalid
	}
	if reply.Diff != nil && reply.Diff.HasChanges() {
		fmt.Fprintf(c.stdout, "Applying to %s:\n\n", r)
		_ = reply.Diff.WriteText(c.stdout)
		fmt.Fprintln(c.stdout)
	}
	for _, l := range reply.Progress {
		fmt.Fprintln(c.stdout, l)
	}
	if reply.Error != "" {
		if !reply.RollbackFailed {
			fmt.Fprintf(c.stderr, "✘ %s\nockamtop apply: the change failed; %s runs as it was\n", reply.Error, r)
		} else {
			fmt.Fprintf(c.stderr, "✘ %s\nockamtop apply: the change failed, and so did undoing it; 'ockamtop status' shows what %s runs\n", reply.Error, r)
		}
		return errInvalid
	}
	if reply.Diff != nil && !reply.Diff.HasChanges() {
		fmt.Fprintf(c.stdout, "No changes: %s matches the file.\n", r)
	}
	checksOK := printChecks(c.stdout, reply.Checks)
	if readyFile != "" && reply.Ready != nil {
		if err := writeReadyInfo(readyFile, *reply.Ready); err != nil {
			fmt.Fprintf(c.stderr, "✘ ready file: %v\n", err)
			return errInvalid
		}
	}
	if !checksOK {
		fmt.Fprintf(c.stderr, "ockamtop apply: %s failed after the change\n", countFailed(reply.Checks))
		return errInvalid
	}
	fmt.Fprintf(c.stdout, "✔ %s is up to date\n", r)
	return nil
}

// planRunning is `plan FILE` while an apply of FILE runs: it prints the
// difference the apply would make, and reports handled.
func (c *cli) planRunning(path string, ff *fileFlags, asJSON bool) (handled bool, err error) {
	a, err := c.findApplies(context.Background())
	if err != nil {
		return false, nil
	}
	running := sameFile(a, path)
	if len(running) == 0 {
		return false, nil
	}
	var diffs []*topology.Diff
	for i, r := range running {
		var reply reconcileReply
		req := reconcileRequest{Vars: ff.vars, Compact: ff.compact}
		if err := r.client.call(context.Background(), "POST", "/plan", req, &reply); err != nil {
			fmt.Fprintf(c.stderr, "ockamtop plan: %s: %v\n", r, err)
			return true, errInvalid
		}
		if reply.Diagnostics != "" {
			fmt.Fprint(c.stderr, reply.Diagnostics)
			return true, errInvalid
		}
		if asJSON {
			diffs = append(diffs, reply.Diff)
			continue
		}
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintf(c.stdout, "Against the running %s:\n\n", r)
		_ = reply.Diff.WriteText(c.stdout)
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if len(diffs) == 1 {
			return true, enc.Encode(diffs[0])
		}
		return true, enc.Encode(diffs)
	}
	return true, nil
}
