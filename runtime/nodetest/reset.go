package nodetest

import "net"

// ResettingTarget is a TCP server's handler (ServeTCP) that sends
// "partial-data" and, once the client has it (the client says so with a
// byte back), resets its connection: a reset that came before the data
// had crossed would lose the data in the kernel, with or without a portal.
func ResettingTarget(c *net.TCPConn) {
	_, _ = c.Write([]byte("partial-data"))
	_, _ = c.Read(make([]byte, 1))
	_ = c.SetLinger(0)
	_ = c.Close()
}
