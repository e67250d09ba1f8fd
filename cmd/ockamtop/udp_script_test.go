package main

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdUDPEcho serves a tiny UDP request/response service on a free
// loopback port until the script ends, and sets VAR to its port: udpecho
// VAR. It answers each datagram with "re: " and the datagram, to the
// socket it came from, as a DNS server answers a query.
func cmdUDPEcho(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: udpecho VAR")
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	ts.Check(err)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_, _ = pc.WriteToUDPAddrPort(append([]byte("re: "), buf[:n]...), from)
			}
		}
	})
	ts.Defer(func() {
		pc.Close()
		wg.Wait()
	})
	ts.Setenv(args[0], strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
}

// cmdUDPAsk sends the datagram TEXT to the UDP address ADDR and writes the
// reply to stdout: udpask ADDR TEXT. A datagram may be lost, as UDP's
// are: it is sent again after a second, five times at most.
func cmdUDPAsk(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: udpask ADDR TEXT")
	}
	a, err := net.ResolveUDPAddr("udp", args[0])
	ts.Check(err)
	c, err := net.DialUDP("udp", nil, a)
	ts.Check(err)
	defer c.Close()
	buf := make([]byte, 64<<10)
	for range 5 {
		_, err := c.Write([]byte(args[1]))
		ts.Check(err)
		ts.Check(c.SetReadDeadline(time.Now().Add(time.Second)))
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		ts.Check(err)
		_, err = ts.Stdout().Write(append(buf[:n:n], '\n'))
		ts.Check(err)
		return
	}
	ts.Fatalf("no reply from %s after 5 tries", args[0])
}
