package runtime

import "errors"

// Sentinel errors of the runtime. Callers match them with errors.Is; the
// returned errors wrap them with the addresses involved.
var (
	// ErrNoSuchAddress is a message to a local address no worker holds.
	ErrNoSuchAddress = errors.New("no worker at that address")
	// ErrAddressInUse is a worker started at an address already taken.
	ErrAddressInUse = errors.New("address already in use")
	// ErrFlowDenied is a message from the network to an address that is not
	// a consumer of the flow it arrived on (flow control is default deny).
	ErrFlowDenied = errors.New("refused by flow control")
	// ErrDialDenied is a message from the network that asks this node to
	// dial a peer the node was not told it may dial.
	ErrDialDenied = errors.New("dial not allowed for a message from the network")
	// ErrEmptyOnwardRoute is a message with nowhere to go.
	ErrEmptyOnwardRoute = errors.New("empty onward route")
	// ErrUnsupportedTransport is an address of a transport this node lacks.
	ErrUnsupportedTransport = errors.New("unsupported transport")
	// ErrNodeClosed is any operation on a node that has shut down.
	ErrNodeClosed = errors.New("node is shut down")
	// ErrWorkerStopped is a message to a worker that stopped before taking it.
	ErrWorkerStopped = errors.New("worker stopped")
)
