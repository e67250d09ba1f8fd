package runtime

import (
	"errors"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

// AcceptLoop accepts connections on ln and hands each to serve, until ln is
// closed: a node's listeners and a portal's inlets accept this way. A
// failed accept (out of file descriptors, say) is retried after a backoff
// that doubles up to a second, rather than spinning or giving up; closing
// (the node's shutdown) ends the wait.
func AcceptLoop(ln net.Listener, log hclog.Logger, closing <-chan struct{}, serve func(net.Conn)) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept failed", "listener", ln.Addr().String(), "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-closing:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		serve(conn)
	}
}
