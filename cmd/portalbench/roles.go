package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// The roles: portalbench runs each side of a measurement as a process of
// its own (itself, started again with a role as its first argument), so
// that the portal sits between processes as it does for curl and a web
// server. Every role prints its result on stdout and serves until its
// stdin closes, so that it never outlives the benchmark.

// roles maps a role's name to its function.
var roles = map[string]func(args []string) error{
	"target": serveTarget,
	"chain":  serveChain,
	"sealed": serveSealedChain,
	"send":   sendBytes,
	"echo":   echoRoundTrips,
	"idle":   holdIdleStreams,
	"fetch":  fetchStreams,
}

// serveTarget serves a sink (reads everything, then closes), an echo
// server and a source (sends what it is asked for, see serveSource) on
// three loopback ports, and prints "SINK ECHO SOURCE".
func serveTarget(args []string) error {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	source, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go acceptLoop(sink, func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
	go acceptLoop(source, serveSource)
	go acceptLoop(echo, func(c net.Conn) {
		// Not io.Copy: between two TCP sockets it splices through a pipe,
		// three descriptors for each of the many idle streams.
		buf := make([]byte, 4<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	fmt.Printf("%s %s %s\n", sink.Addr(), echo.Addr(), source.Addr())
	return waitStdin()
}

// serveChain chains N plain io.Copy forwarders in this process in front of
// each target given, and prints the front address of each chain: the floor
// that any forwarding of a TCP stream through N extra hops pays.
func serveChain(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: chain N TARGET...")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("chain length %q: want a positive number", args[0])
	}
	var fronts []string
	for _, target := range args[1:] {
		next := target
		for range n {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			to := next
			go acceptLoop(l, func(c net.Conn) { forward(c, to) })
			next = l.Addr().String()
		}
		fronts = append(fronts, next)
	}
	for i, f := range fronts {
		if i > 0 {
			fmt.Print(" ")
		}
		fmt.Print(f)
	}
	fmt.Println()
	return waitStdin()
}

// forward copies c to a new connection to addr and back, passing each
// half-close on.
func forward(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
	})
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	wg.Wait()
}

func acceptLoop(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			serve(c)
		}()
	}
}

// waitStdin returns when stdin closes: the benchmark ended, or died.
func waitStdin() error {
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// sendBytes sends SIZE bytes to ADDR in WRITE-byte writes, half-closes, and
// waits for the far end to close after reading them all; it prints the
// seconds taken.
func sendBytes(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: send ADDR SIZE WRITE")
	}
	size, err1 := strconv.ParseInt(args[1], 10, 64)
	write, err2 := strconv.Atoi(args[2])
	if err := errors.Join(err1, err2); err != nil || size <= 0 || write <= 0 {
		return fmt.Errorf("send: bad size or write size %q %q", args[1], args[2])
	}
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, write)
	start := time.Now()
	for sent := int64(0); sent < size; {
		n := min(int64(len(buf)), size-sent)
		if _, err := c.Write(buf[:n]); err != nil {
			return fmt.Errorf("send after %d bytes: %w", sent, err)
		}
		sent += n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	// The sink closes once it has read everything: wait for that.
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	fmt.Println(time.Since(start).Seconds())
	return nil
}

// echoRoundTrips times N round trips of a 64-byte message to an echo
// server at ADDR, after a warm-up, and prints the p50 and p99 in
// nanoseconds.
func echoRoundTrips(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: echo ADDR N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return fmt.Errorf("echo: bad count %q", args[1])
	}
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	msg, got := make([]byte, 64), make([]byte, 64)
	trip := func() (time.Duration, error) {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	for range min(n/10+1, 1000) {
		if _, err := trip(); err != nil {
			return fmt.Errorf("echo warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		d, err := trip()
		if err != nil {
			return fmt.Errorf("echo round trip %d: %w", i, err)
		}
		binary.BigEndian.PutUint64(msg, uint64(i))
		lat[i] = d
	}
	slices.Sort(lat)
	fmt.Println(lat[n/2].Nanoseconds(), lat[n*99/100].Nanoseconds())
	return nil
}

// holdIdleStreams opens N connections to each echo server ADDR (an
// inlet's), makes one round trip on each so that every stream is
// established end to end, prints "ready SECONDS", the seconds that took, and
// holds them open until stdin closes. Each inlet has a client of its own,
// which opens its N streams one after another, and the clients run at
// once, as the users of many inlets would.
func holdIdleStreams(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: idle N ADDR...")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("idle: bad count %q", args[0])
	}
	addrs := args[1:]
	start := time.Now()
	conns := make([][]net.Conn, len(addrs))
	defer func() {
		for _, cs := range conns {
			for _, c := range cs {
				c.Close()
			}
		}
	}()
	var g errgroup.Group
	for i, addr := range addrs {
		g.Go(func() error {
			one := []byte{1}
			for j := range n {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return fmt.Errorf("idle stream %d of %s: %w", j, addr, err)
				}
				conns[i] = append(conns[i], c)
				if _, err := c.Write(one); err != nil {
					return fmt.Errorf("idle stream %d of %s: %w", j, addr, err)
				}
				if _, err := io.ReadFull(c, one); err != nil {
					return fmt.Errorf("idle stream %d of %s: %w", j, addr, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "ready", time.Since(start).Seconds())
	w.Flush()
	return waitStdin()
}
