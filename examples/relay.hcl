# Relays, from Ockam's "Relays and Portals" (seed 003):
#
#   ockam node create n2 --tcp-listener-address=127.0.0.1:7000
#   ockam node create n3
#   ockam service start hop --at n3
#   ockam relay create n3 --at /node/n2 --to /node/n3
#   ockam node create n1
#   ockam message send hello --from n1 --to .../service/forward_to_n3/service/uppercase
#
# n3 never listens: it dials n2 and registers the name "n3", and n2 starts
# forward_to_n3, which sends traffic back over n3's own connection.

variable "n2_port" {
  default     = 7000
  description = "the port n2 listens on"
}

node "n2" {
  tcp_listener = "127.0.0.1:${var.n2_port}"
}

node "n3" {
  service "hop" {}

  relay "n3" {
    at = node.n2
  }
}

node "n1" {}

check "uppercase through the relay" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}

check "through the relay and a hop" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/hop/service/echo"
  send   = "hello"
  expect = "hello"
}
