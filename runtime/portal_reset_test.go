package runtime

import (
	"net"
	"testing"
	"time"
)

// resettingTarget sends partial-data, then resets its connection.
func resettingTarget(c *net.TCPConn) {
	_, _ = c.Write([]byte("partial-data"))
	_ = c.SetLinger(0)
	_ = c.Close()
}

// readUntilError reads c until an error, and returns what it read and
// the error.
func readUntilError(t testing.TB, c net.Conn) (string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return string(got), err
		}
	}
}

// A target that resets its connection after some data resets the
// client's too, plain and inside a secure channel: the data that came is
// delivered, and the end is a reset, not a clean EOF that would pass a
// cut response for a whole one.
func TestPortalTargetResetReachesTheClient(t *testing.T) {
	target := serveTCP(t, resettingTarget)
	plain := newPortalPath(t, target)
	sp := newSecurePath(t, SecureChannelListenerOptions{})
	secured, _ := sp.secureInlet(t, target)
	for name, addr := range map[string]string{"plain": plain.inlet.Addr(), "secure": secured.Addr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readUntilError(t, c)
		c.Close()
		if got != "partial-data" || !isReset(err) {
			t.Errorf("%s: read %q, then %v; want partial-data, then a reset", name, got, err)
		}
	}
}
