package nodetest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Tap is a TCP proxy in front of a node's listener that keeps every byte
// that crosses it, both ways: what the node in the middle sees.
type Tap struct {
	// Addr is where the tap listens.
	Addr string
	mu   sync.Mutex
	seen bytes.Buffer // guarded by mu
}

// NewTap starts a tap in front of target until the test ends.
func NewTap(t testing.TB, target string) *Tap {
	tp := &Tap{}
	tp.Addr = ServeTCP(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tp.copy(u, c)
			u.Close()
		}()
		tp.copy(c, u)
		c.Close()
		<-done
	})
	return tp
}

// copy copies from src to dst, keeping what passes.
func (tp *Tap) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.seen.Write(buf[:n])
			tp.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Saw reports whether s crossed the tap, either way.
func (tp *Tap) Saw(s string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), []byte(s))
}
