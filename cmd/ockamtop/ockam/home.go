package ockam

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// home is $OCKAM_HOME (default ~/.ockam), where the session lives. What
// ockamtop keeps there is under its own directory, so that it never mixes
// with a real Ockam's state:
//
//	$OCKAM_HOME/ockamtop/session.json   the session: nodes and their parts
//	$OCKAM_HOME/ockamtop/session.hcl    the same as a topology, which every node runs
//	$OCKAM_HOME/ockamtop/lock           held by a command while it changes the session
//	$OCKAM_HOME/ockamtop/run/PID.sock   each node process's control socket
//	$OCKAM_HOME/ockamtop/nodes/NAME.log each background node's output
//	$OCKAM_HOME/ockamtop/identities/    the nodes' identities
type home struct{ dir string }

func (r *run) findHome() (home, error) {
	if d := r.getenv("OCKAM_HOME"); d != "" {
		return home{dir: filepath.Join(d, "ockamtop")}, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return home{}, failf("find the home directory (set OCKAM_HOME): %v", err)
	}
	return home{dir: filepath.Join(h, ".ockam", "ockamtop")}, nil
}

func (h home) sessionFile() string { return filepath.Join(h.dir, "session.hcl") }
func (h home) stateFile() string   { return filepath.Join(h.dir, "session.json") }
func (h home) runDir() string      { return filepath.Join(h.dir, "run") }
func (h home) identityDir() string { return filepath.Join(h.dir, "identities") }
func (h home) logFile(node string) string {
	return filepath.Join(h.dir, "nodes", node+".log")
}

// socket is the control socket of the node process pid.
func (h home) socket(pid int) string { return filepath.Join(h.runDir(), fmt.Sprintf("%d.sock", pid)) }

// maxSocketPath is the longest unix socket path here, less its NUL.
var maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// checkSocketPath refuses a home too long for a control socket, before a
// node is started.
func (h home) checkSocketPath() error {
	if p := h.socket(9999999); len(p) > maxSocketPath {
		return failf("OCKAM_HOME is too long: a node's control socket would be %s, %d bytes, and a unix socket path has at most %d here", p, len(p), maxSocketPath)
	}
	return nil
}

// locked is the session held under the lock, until unlock.
type locked struct {
	h    home
	s    *Session
	file *os.File
}

// lock takes the session's lock (waiting for another command to finish)
// and reads the session.
func (h home) lock() (*locked, error) {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, failf("OCKAM_HOME: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(h.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, failf("lock the session: %v", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, failf("lock the session: %v", err)
	}
	s, err := h.read()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &locked{h: h, s: s, file: f}, nil
}

func (l *locked) unlock() { l.file.Close() }

// read reads the session without the lock, as a reader that changes
// nothing may: the file is replaced whole on each save.
func (h home) read() (*Session, error) {
	b, err := os.ReadFile(h.stateFile())
	if os.IsNotExist(err) {
		return &Session{}, nil
	}
	if err != nil {
		return nil, failf("read the session: %v", err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, failf("read the session %s: %v", h.stateFile(), err)
	}
	return &s, nil
}

// save writes the session and its topology, each atomically.
func (l *locked) save() error {
	b, err := json.MarshalIndent(l.s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(l.h.sessionFile(), l.s.HCL(l.h.identityDir())); err != nil {
		return failf("write the session: %v", err)
	}
	if err := writeAtomic(l.h.stateFile(), append(b, '\n')); err != nil {
		return failf("write the session: %v", err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
