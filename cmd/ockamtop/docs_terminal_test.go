package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// terminalPages are the pages whose console blocks run on a terminal:
// they show Ockam's commands as a person at a terminal sees them (their
// plain form; a pipe gets their machine form).
var terminalPages = map[string]bool{"README.md": true, "ockam.md": true, "cli.md": true}

// markPrefix begins the mark written to the terminal after each console
// block: "\n@@ockamtop-docs-end-I@@\n", I the block's index (-1 after
// the last).
const markPrefix = "@@ockamtop-docs-end-"

// blockEnd is the mark for console block i, as printf writes it.
func blockEnd(i int) string { return fmt.Sprintf(`\n%s%d@@\n`, markPrefix, i) }

// terminalOutput is a terminal that a page's blocks write to, read as
// they write (a terminal's buffer is small).
type terminalOutput struct {
	master, slave *os.File
	done          chan struct{} // closed when the reader stops
	ended         chan struct{} // closed when the last mark has come

	mu  sync.Mutex
	buf []byte // guarded by mu
}

func newTerminalOutput() (*terminalOutput, error) {
	m, s, err := openPTY()
	if err != nil {
		return nil, err
	}
	o := &terminalOutput{master: m, slave: s, done: make(chan struct{}), ended: make(chan struct{})}
	last := []byte(markPrefix + "-1@@")
	go func() {
		defer close(o.done)
		chunk := make([]byte, 32<<10)
		seen := false
		for {
			n, err := m.Read(chunk) // until close: this process holds the slave
			o.mu.Lock()
			o.buf = append(o.buf, chunk[:n]...)
			if !seen && bytes.Contains(o.buf, last) {
				seen = true
				close(o.ended)
			}
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o, nil
}

// split waits for the last block's mark, and writes each block's output
// to dir/I, as a block that writes to a file does.
func (o *terminalOutput) split(dir string) error {
	select {
	case <-o.ended:
	case <-time.After(10 * time.Second):
		return errors.New("the terminal's output did not end with the page's last mark")
	}
	o.close()
	rest := o.buf // the reader has stopped
	for {
		start := bytes.Index(rest, []byte(markPrefix))
		if start < 0 {
			return nil
		}
		end := bytes.Index(rest[start:], []byte("@@\n"))
		if end < 0 {
			return errors.New("a mark is cut short")
		}
		i, err := strconv.Atoi(string(rest[start+len(markPrefix) : start+end]))
		if err != nil {
			return err
		}
		if i >= 0 {
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), rest[:start], 0o644); err != nil {
				return err
			}
		}
		rest = rest[start+end+len("@@\n"):]
	}
}

// close closes the terminal and waits for the reader.
func (o *terminalOutput) close() {
	if o.slave == nil {
		return
	}
	o.slave.Close()
	o.master.Close()
	<-o.done
	o.slave = nil
}
