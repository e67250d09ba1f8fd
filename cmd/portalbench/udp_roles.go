package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The roles of the UDP benchmark (udp.go), added to roles.
func init() {
	roles["udptarget"] = serveUDPEcho
	roles["udpload"] = udpLoad
	roles["udprtt"] = udpRoundTrips
}

// udpBuffer is the socket buffer the UDP roles ask for, as the inlet does:
// with the default (208 KiB on Linux) a burst of replies is lost at the
// client before it reads them, whichever path carried them.
const udpBuffer = 4 << 20

// serveUDPEcho answers every datagram with itself, to the socket it came
// from, on a loopback port, and prints the address.
func serveUDPEcho(args []string) error {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	_ = pc.SetReadBuffer(udpBuffer)
	_ = pc.SetWriteBuffer(udpBuffer)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	fmt.Println(pc.LocalAddr())
	return waitStdin()
}

// udpLoad sends N datagrams of SIZE bytes to the echo server at ADDR from
// CLIENTS sockets at once, each with at most WINDOW unanswered, and
// prints "SECONDS ANSWERED SENT": the time from the first datagram to the
// last reply, and how many came back of how many went. A client whose
// replies stop for lossWait takes the ones outstanding as lost and sends
// on, as a DNS client gives up on a query.
func udpLoad(args []string) error {
	if len(args) != 5 {
		return errors.New("usage: udpload ADDR N SIZE WINDOW CLIENTS")
	}
	var nums [4]int
	for i, a := range args[1:] {
		v, err := strconv.Atoi(a)
		if err != nil || v < 1 {
			return fmt.Errorf("udpload: bad number %q", a)
		}
		nums[i] = v
	}
	n, size, window, clients := nums[0], nums[1], nums[2], nums[3]
	to, err := net.ResolveUDPAddr("udp", args[0])
	if err != nil {
		return err
	}
	const lossWait = 300 * time.Millisecond
	var answered, sent atomic.Int64
	var last atomic.Int64 // the last reply's time, Unix nanoseconds
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := range clients {
		per := n / clients
		if c < n%clients {
			per++
		}
		conn, err := net.DialUDP("udp", nil, to)
		if err != nil {
			return err
		}
		_ = conn.SetReadBuffer(udpBuffer)
		wg.Go(func() {
			defer conn.Close()
			credit := make(chan struct{}, window)
			var done atomic.Bool
			var readers sync.WaitGroup
			readers.Go(func() {
				buf := make([]byte, 64<<10)
				for {
					_ = conn.SetReadDeadline(time.Now().Add(lossWait))
					_, err := conn.Read(buf)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						if done.Load() {
							return
						}
						for len(credit) > 0 { // lost: send on
							<-credit
						}
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					answered.Add(1)
					last.Store(time.Now().UnixNano())
					select {
					case <-credit:
					default:
					}
					if done.Load() && len(credit) == 0 {
						return
					}
				}
			})
			msg := make([]byte, size)
			for i := range per {
				credit <- struct{}{}
				msg[0] = byte(i)
				if _, err := conn.Write(msg); err != nil {
					errs <- err
					break
				}
				sent.Add(1)
			}
			done.Store(true)
			readers.Wait()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	secs := time.Duration(last.Load() - start.UnixNano()).Seconds()
	fmt.Println(secs, answered.Load(), sent.Load())
	return nil
}

// udpRoundTrips makes N round trips of 64 bytes to the echo server at
// ADDR, one at a time, after a warm-up, and prints the p50 and p99 in
// nanoseconds; a datagram not answered within a second is sent again (and
// its trip counts from the first send).
func udpRoundTrips(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: udprtt ADDR N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return fmt.Errorf("udprtt: bad count %q", args[1])
	}
	to, err := net.ResolveUDPAddr("udp", args[0])
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		return err
	}
	defer c.Close()
	msg, got := make([]byte, 64), make([]byte, 64<<10)
	seq := uint8(0)
	trip := func() (time.Duration, error) {
		seq++
		msg[0] = seq
		start := time.Now()
		for range 10 {
			if _, err := c.Write(msg); err != nil {
				return 0, err
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				k, err := c.Read(got)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // send it again
				}
				if err != nil {
					return 0, err
				}
				if k == len(msg) && got[0] == seq { // not a late reply to an earlier trip
					return time.Since(start), nil
				}
			}
		}
		return 0, errors.New("no reply after 10 tries")
	}
	for range min(n/10+1, 1000) {
		if _, err := trip(); err != nil {
			return fmt.Errorf("udprtt warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		if lat[i], err = trip(); err != nil {
			return fmt.Errorf("udprtt round trip %d: %w", i, err)
		}
	}
	slices.Sort(lat)
	fmt.Println(lat[n/2].Nanoseconds(), lat[n*99/100].Nanoseconds())
	return nil
}
