package schema

import "github.com/hashicorp/hcl/v2"

// The block and attribute names of the language that name parts of a
// topology. The planner's kinds of part (topology.Kinds) are named by
// these, so a name is spelled once.
const (
	BlockVariable              = "variable"
	BlockNode                  = "node"
	BlockCheck                 = "check"
	BlockNetwork               = "network"
	BlockService               = "service"
	BlockRelay                 = "relay"
	BlockOutlet                = "tcp_outlet"
	BlockInlet                 = "tcp_inlet"
	BlockUDPOutlet             = "udp_outlet"
	BlockUDPInlet              = "udp_inlet"
	BlockSecureChannelListener = "secure_channel_listener"
	BlockExec                  = "exec"
	AttrTCPListener            = "tcp_listener"
	AttrTCPListeners           = "tcp_listeners"
	AttrUDPListener            = "udp_listener"
	AttrIdentity               = "identity"
)

// BlockType is a block of the language: where it may appear, the schema
// of its body, and what it decodes to.
type BlockType struct {
	// Name is the block's type, as the file writes it.
	Name string
	// Parent is the block it appears in; "" at the top level.
	Parent string
	// Body is the schema of its body.
	Body *hcl.BodySchema
	// Decoded is a pointer to the zero value of the struct it decodes to,
	// whose fields are tagged `hcl:"NAME"` with the attributes and blocks
	// of the body (see Attributes).
	Decoded any
}

// BlockTypes lists every block of the language, top-level blocks first.
// It is the one list the tests hold the rest of the program to: each
// attribute of each block is decoded, diffed and run, or refused.
func BlockTypes() []BlockType {
	return []BlockType{
		{Name: BlockVariable, Body: variableSchema, Decoded: &Variable{}},
		{Name: BlockNode, Body: nodeSchema, Decoded: &Node{}},
		{Name: BlockCheck, Body: checkSchema, Decoded: &Check{}},
		{Name: BlockNetwork, Body: networkSchema, Decoded: &Network{}},
		{Name: BlockService, Parent: BlockNode, Body: serviceSchema, Decoded: &Service{}},
		{Name: BlockRelay, Parent: BlockNode, Body: relaySchema, Decoded: &Relay{}},
		{Name: BlockOutlet, Parent: BlockNode, Body: outletSchema, Decoded: &Outlet{}},
		{Name: BlockInlet, Parent: BlockNode, Body: inletSchema, Decoded: &Inlet{}},
		{Name: BlockUDPOutlet, Parent: BlockNode, Body: outletSchema, Decoded: &Outlet{}},
		{Name: BlockUDPInlet, Parent: BlockNode, Body: udpInletSchema, Decoded: &UDPInlet{}},
		{Name: BlockSecureChannelListener, Parent: BlockNode, Body: secureChannelListenerSchema, Decoded: &SecureChannelListener{}},
		{Name: BlockExec, Parent: BlockNode, Body: execSchema, Decoded: &Exec{}},
	}
}
