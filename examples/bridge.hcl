# A bridge, from Ockam's "Routing and Transports" (seed 002,
# 04-routing-over-transport-two-hops) and "Relays and Portals" (seed 003):
# n1 wants a service on n3 but cannot connect to it; n2 can reach both and
# becomes the bridge. n1 connects to n2, n2 connects to n3.
#
#   n1 --tcp--> n2 --tcp--> n3
#
# /node/NAME in a route is the connection, from the node the message is at,
# to node NAME's listener. So the route below crosses n1 -> n2, then
# n2 -> n3, and reaches uppercase on n3. n2 dials n3 for a message from the
# network because n3 is a node of this file (nodes are no open proxies).

variable "n3_port" {
  default     = 4000
  description = "the port n3 listens on"
}

variable "n2_port" {
  default     = 3000
  description = "the port n2 listens on"
}

node "n3" {
  tcp_listener = "127.0.0.1:${var.n3_port}"
}

node "n2" {
  tcp_listener = "127.0.0.1:${var.n2_port}"
}

node "n1" {}

check "uppercase over two tcp hops" {
  from   = node.n1
  to     = "/node/n2/node/n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}

check "echo over two tcp hops" {
  from   = node.n1
  to     = "/node/n2/node/n3/service/echo"
  send   = "Hello Ockam!"
  expect = "Hello Ockam!"
}
