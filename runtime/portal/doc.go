// Package portal is Ockam's TCP portal on the node library: an inlet
// accepts TCP connections and carries each one, as a stream of portal
// messages (message.go), along a route to an outlet, which dials its
// target and carries the other direction back. Both ends are workers on a
// runtime.Node and use only its exported API: the node routes their
// messages, and the streams move large payloads from socket to socket
// without reading them (runtime.Splicer, runtime/splice) where the route
// allows.
//
// Better than Ockam's, a stream has flow control (Credit), a half-close,
// keepalives and message numbers, and an outlet that cannot reach its
// target says so at once; see message.go for the protocol.
package portal
