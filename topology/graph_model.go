package topology

// Graph is the model behind `ockamtop graph`, for drawers other than dot
// and mermaid (the live page of `apply --http`): the same nodes, edges and
// portal ends.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
	Ends  []GraphEnd  `json:"ends"`
}

// GraphNode is a node and its listener ("" if it does not listen), and
// its other TCP listeners.
type GraphNode struct {
	Name         string   `json:"name"`
	Listener     string   `json:"listener,omitempty"`
	TCPListeners []string `json:"tcp_listeners,omitempty"`
}

// Kinds of graph edges.
const (
	// EdgeRelay: the relay's node (From) dials the relay node (To) and
	// registers Name there.
	EdgeRelay = "relay"
	// EdgeConnection: a route makes From connect to To's listener.
	EdgeConnection = "tcp"
	// EdgeForward: To's forwarder Name at From sends back over the
	// relay's connection.
	EdgeForward = "forward"
)

// GraphEdge is an edge between two nodes.
type GraphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Label string `json:"label"`
}

// GraphEnd is a portal's end: an inlet that feeds its node, or an outlet
// its node feeds.
type GraphEnd struct {
	ID    string `json:"id"`
	Node  string `json:"node"`
	Inlet bool   `json:"inlet"`
	Name  string `json:"name"`
	Label string `json:"label"`
	// UDP is set for a UDP portal's end.
	UDP bool `json:"udp,omitempty"`
}

// Graph returns the topology's graph.
func (t *Topology) Graph() Graph {
	g := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}, Ends: []GraphEnd{}}
	for _, n := range t.Nodes {
		g.Nodes = append(g.Nodes, GraphNode{Name: n.Name, Listener: n.Listener, TCPListeners: n.TCPListeners})
	}
	edges, ends := t.graph()
	kinds := map[string]string{"dashed": EdgeRelay, "solid": EdgeConnection, "dotted": EdgeForward}
	for _, e := range edges {
		g.Edges = append(g.Edges, GraphEdge{From: e.from, To: e.to, Kind: kinds[e.style], Name: e.name, Label: e.label})
	}
	for _, e := range ends {
		g.Ends = append(g.Ends, GraphEnd{ID: e.id, Node: e.node, Inlet: e.inlet, Name: e.name, Label: e.label, UDP: e.udp})
	}
	return g
}
