package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fairness run: many streams download at once through one portal.
// Streams share the portal's connections, so a portal that favours one
// stream (or starves one behind another's data) shows it here, where one
// stream alone cannot: the aggregate throughput against one stream's, and
// the slowest stream's time against the fastest's.

// serveSource answers a connection that sends a big-endian u64 size with
// that many bytes, then closes: a download.
func serveSource(c net.Conn) {
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	size := int64(binary.BigEndian.Uint64(head[:]))
	buf := make([]byte, 256<<10)
	for sent := int64(0); sent < size; {
		n := min(int64(len(buf)), size-sent)
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
		sent += n
	}
}

// fetchStreams downloads SIZE bytes over each of N connections to ADDR at
// once and prints the seconds all took, then each stream's seconds.
func fetchStreams(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: fetch ADDR STREAMS SIZE")
	}
	n, err1 := strconv.Atoi(args[1])
	size, err2 := strconv.ParseInt(args[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil || n < 1 || size < 1 {
		return fmt.Errorf("fetch: bad streams or size %q %q", args[1], args[2])
	}
	secs := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() { secs[i], errs[i] = fetch(args[0], size) })
	}
	wg.Wait()
	total := time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fields := []string{strconv.FormatFloat(total, 'f', -1, 64)}
	for _, s := range secs {
		fields = append(fields, strconv.FormatFloat(s, 'f', -1, 64))
	}
	fmt.Println(strings.Join(fields, " "))
	return nil
}

// fetch downloads size bytes from the source at addr and returns the
// seconds it took.
func fetch(addr string, size int64) (float64, error) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var head [8]byte
	binary.BigEndian.PutUint64(head[:], uint64(size))
	if _, err := c.Write(head[:]); err != nil {
		return 0, err
	}
	got, err := io.Copy(io.Discard, c)
	if err != nil {
		return 0, err
	}
	if got != size {
		return 0, fmt.Errorf("downloaded %d bytes of %d", got, size)
	}
	return time.Since(start).Seconds(), nil
}

// fairStreams measures, for each path, one stream alone, then many at
// once (fewer inside a secure channel), and reports the aggregate
// throughput against one stream's and the slowest stream against the
// fastest, as medians over the rounds.
func (b *bench) fairStreams(self string, paths []path) error {
	size := int64(b.opts.fairMiB) << 20
	fmt.Fprintf(b.out, "\nfair streams: %d MiB a stream (medians over %d rounds)\n", b.opts.fairMiB, b.opts.rounds)
	fmt.Fprintf(b.out, "%-18s %7s %12s %12s %10s %14s\n", "path", "streams", "1 MB/s", "all MB/s", "x one", "slowest/fastest")
	for _, p := range paths {
		streams := b.opts.fair
		if p.key == "secure3" {
			streams = b.opts.fairSecure
		}
		if streams == 0 {
			continue
		}
		var one, all, ratio, spread []float64
		for range b.opts.rounds {
			single, err := b.fetchRun(self, p, 1, size)
			if err != nil {
				return err
			}
			many, err := b.fetchRun(self, p, streams, size)
			if err != nil {
				return err
			}
			oneRate := float64(size) / single[0] / 1e6
			allRate := float64(size) * float64(streams) / many[0] / 1e6
			each := many[1:]
			one = append(one, oneRate)
			all = append(all, allRate)
			ratio = append(ratio, allRate/oneRate)
			spread = append(spread, slices.Max(each)/slices.Min(each))
		}
		fmt.Fprintf(b.out, "%-18s %7d %12.0f %12.0f %10.2f %14.2f\n", p.name, streams, median(one), median(all), median(ratio), median(spread))
	}
	return nil
}

// fetchRun runs the fetch role: the total seconds, then each stream's.
func (b *bench) fetchRun(self string, p path, streams int, size int64) ([]float64, error) {
	out, err := b.client(self, "fetch", p.sink, strconv.Itoa(streams), strconv.FormatInt(size, 10))
	if err != nil {
		return nil, fmt.Errorf("%s: %d streams: %w", p.name, streams, err)
	}
	var secs []float64
	for _, f := range strings.Fields(out) {
		s, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: fetch printed %q", p.name, out)
		}
		secs = append(secs, s)
	}
	if len(secs) != streams+1 {
		return nil, fmt.Errorf("%s: fetch printed %q", p.name, out)
	}
	return secs, nil
}
