// Package udpportal carries UDP applications (DNS, syslog, game and VPN
// traffic) over routing, as package portal carries TCP ones: an inlet
// binds a UDP socket, and every client address it hears from is a flow,
// whose datagrams travel one per routing message (message.go) along the
// inlet's route to an outlet; the outlet sends each to its target from a
// socket of the flow's own, and the target's replies go back the same way
// to that client. Both ends are workers on a runtime.Node and use only its
// exported API, so a route may cross TCP or UDP hops, relays and secure
// channels.
//
// One datagram in is one datagram out: never merged, never split. As with
// UDP itself, a datagram may be lost (a full queue, a lost message on a UDP
// hop) or overtaken, but never corrupted or delivered to another flow.
// Flows end after an idle timeout; an inlet holds a bounded number of
// them, each with a bounded queue, and sends from its flows in turn, so
// that a client that floods the inlet loses its own datagrams and no one
// else's (fair.go).
//
// Ockam has no UDP portal: the messages here are ockamtop's own.
package udpportal
