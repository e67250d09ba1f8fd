// Package splice moves the bytes of large payloads from one socket to
// another without copying them through the process: splice(2) moves a
// socket's data into a kernel pipe, and out of it into the next socket, by
// reference. A portal stream in full flow reads its client into a pipe; a
// TCP connection whose frame holds a large payload moves that payload into
// a pipe, and the next connection, or the outlet's socket, moves it out.
// The frame around it (length, routes, the payload's first and last bytes)
// is read and written as usual; the node library's Spliced is the message
// part that holds a pipe.
//
// The package also holds the raw socket writes of the data path that never
// wait (WriteNow). Without splice(2) (any system but Linux) there are no
// pipes: GetPipe always says none, and every payload goes through memory.
package splice

// MinBytes is the least data worth moving through a pipe rather than
// memory: a portal stream reads into a pipe when it may send this much, and
// a connection splices a payload with at least this much past what it has
// read already.
const MinBytes = 16 << 10
