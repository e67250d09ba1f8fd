package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// The sealed chain is the floor of a secure portal as the plain chain is
// the floor of a portal: three forwarders in one process, the first of
// which seals what the client sends with AES-256-GCM, Ockam's cipher, in
// records of up to sealedRecord bytes, and the last opens it before the
// target; the replies go the other way. The middle one copies ciphertext.
// No framing, routing or flow control: only the work a secure channel
// cannot avoid, the cipher and the copies in and out of memory at both
// ends. Its throughput next to the plain chain's bounds what any secure
// portal can reach next to a plain one on this machine.
//
// It is no secure channel: a fixed key, no handshake, nothing but a
// measure of the cost.

// sealedRecord is the largest plaintext a record holds: a large window's
// chunk, as ockamtop's secure channel seals them (runtime/portal's LargeChunk).
const sealedRecord = 512 << 10

// sealedOverhead is what a record adds: a length and a nonce before the
// ciphertext, the tag after it.
const sealedOverhead = 4 + 8 + 16

// serveSealedChain is serveChain's sealed twin: three forwarders in front
// of each target, the outer two sealing and opening.
func serveSealedChain(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: sealed TARGET...")
	}
	var fronts []string
	for _, target := range args {
		next := target
		for i, mode := range []sealMode{openToward, plainToward, sealToward} {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("forwarder %d: %w", i, err)
			}
			to, mode := next, mode
			go acceptLoop(l, func(c net.Conn) { forwardSealed(c, to, mode) })
			next = l.Addr().String()
		}
		fronts = append(fronts, next)
	}
	fmt.Println(strings.Join(fronts, " "))
	return waitStdin()
}

// sealMode is what a forwarder does to what goes toward the target; the
// other way, it does the opposite.
type sealMode int

const (
	plainToward sealMode = iota
	sealToward           // the client's side: seal on the way in
	openToward           // the target's side: open on the way in
)

// forwardSealed is forward with records sealed or opened on the way.
func forwardSealed(c net.Conn, addr string, mode sealMode) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	toward, back := io.Copy, io.Copy
	switch mode {
	case sealToward:
		toward, back = sealCopy, openCopy
	case openToward:
		toward, back = openCopy, sealCopy
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		toward(up, c)
		up.(*net.TCPConn).CloseWrite()
	})
	back(c, up)
	c.(*net.TCPConn).CloseWrite()
	wg.Wait()
}

// newRecords returns AES-256-GCM under a fixed key, and a buffer for one
// record.
func newRecords() (cipher.AEAD, []byte, error) {
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	return aead, make([]byte, sealedOverhead+sealedRecord), err
}

// sealCopy reads src in reads of up to sealedRecord bytes and writes each
// as a record: its length, the nonce, the plaintext sealed in place.
func sealCopy(dst io.Writer, src io.Reader) (int64, error) {
	aead, buf, err := newRecords()
	if err != nil {
		return 0, err
	}
	var nonce [12]byte
	var total int64
	for seq := uint64(0); ; seq++ {
		n, err := src.Read(buf[12 : 12+sealedRecord])
		if n > 0 {
			binary.BigEndian.PutUint64(nonce[4:], seq)
			copy(buf[4:12], nonce[4:])
			sealed := aead.Seal(buf[12:12], nonce[:], buf[12:12+n], nil)
			binary.BigEndian.PutUint32(buf, uint32(8+len(sealed)))
			if _, werr := dst.Write(buf[:12+len(sealed)]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err != nil {
			return total, err
		}
	}
}

// openCopy reads records from src, opens each in place and writes its
// plaintext.
func openCopy(dst io.Writer, src io.Reader) (int64, error) {
	aead, buf, err := newRecords()
	if err != nil {
		return 0, err
	}
	var nonce [12]byte
	var total int64
	for {
		if _, err := io.ReadFull(src, buf[:4]); err != nil {
			return total, err
		}
		n := int(binary.BigEndian.Uint32(buf))
		if n < 8+16 || n > len(buf)-4 {
			return total, fmt.Errorf("record of %d bytes", n)
		}
		if _, err := io.ReadFull(src, buf[4:4+n]); err != nil {
			return total, err
		}
		copy(nonce[4:], buf[4:12])
		plain, err := aead.Open(buf[12:12], nonce[:], buf[12:4+n], nil)
		if err != nil {
			return total, err
		}
		if _, err := dst.Write(plain); err != nil {
			return total, err
		}
		total += int64(len(plain))
	}
}
