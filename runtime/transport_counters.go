package runtime

// TransportCounters are a transport's own counters, beyond its
// connections': what crosses it in packets (a UDP transport's datagrams),
// the messages those make, and what it dropped, by reason.
type TransportCounters struct {
	// Transport is the transport's name: "udp".
	Transport string
	// PacketsIn and PacketsOut count the datagrams read and written.
	PacketsIn, PacketsOut uint64
	// MessagesIn counts the messages put together from them;
	// MessagesOut the messages sent as them.
	MessagesIn, MessagesOut uint64
	// Peers is how many peers the transport keeps now.
	Peers int
	// Dropped counts what was dropped, by reason (the transport's own
	// words, such as "expired").
	Dropped map[string]uint64
}

// CountingTransport is a transport that keeps TransportCounters
// (Transports.Counters).
type CountingTransport interface {
	Transport
	Counters() TransportCounters
}
