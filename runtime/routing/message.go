package routing

// Message is a routing message as workers see it: the two routes, the
// payload, and an optional tracing context that Ockam carries along.
//
// The payload is opaque to routing; application messages encode it with
// BARE (see the wire package).
type Message struct {
	Onward  Route
	Return  Route
	Payload []byte
	// Tracing is Ockam's optional tracing context; empty when absent.
	Tracing string
}
