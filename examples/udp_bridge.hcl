# The bridge of seed 003, over two transports: "the communication from n1
# to n2 uses UDP while from n2 to n3 uses TCP". n2 is the bridge between
# the two networks.
#
#   n1 --udp--> n2 --tcp--> n3
#
# /node/NAME/udp in a route is n2's udp_listener, /node/NAME/tcp (or
# /node/NAME alone, as in Ockam) a node's tcp_listener: each hop says which
# transport it takes. n2 sends on to n3 for n1's message because n3 is a
# node of this file (nodes are no open proxies).
#
# The portal: curl -> inlet on n1 -UDP-> n2 -TCP-> outlet on n3 -> a web
# server on 127.0.0.1:9000 (python3 -m http.server --bind 127.0.0.1 9000).

variable "n3_port" {
  default     = 4000
  description = "the port n3 listens on"
}

variable "n2_port" {
  default     = 5000
  description = "the UDP port n2 listens on"
}

variable "inlet_port" {
  default     = 6000
  description = "where n1's inlet takes connections"
}

variable "target_port" {
  default     = 9000
  description = "where the web service listens"
}

node "n3" {
  tcp_listener = "127.0.0.1:${var.n3_port}"

  tcp_outlet "outlet" {
    to = "127.0.0.1:${var.target_port}"
  }
}

node "n2" {
  udp_listener = "127.0.0.1:${var.n2_port}"
}

node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:${var.inlet_port}"
    to   = "/node/n2/udp/node/n3/tcp/service/outlet"
  }
}

check "uppercase over udp then tcp" {
  from   = node.n1
  to     = "/node/n2/udp/node/n3/tcp/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}

check "echo over udp then tcp" {
  from   = node.n1
  to     = "/node/n2/udp/node/n3/service/echo"
  send   = "Hello Ockam!"
  expect = "Hello Ockam!"
}
