# Portals, from Ockam's "Relays and Portals" (seed 003), continuing the
# relay example:
#
#   python3 -m http.server --bind 127.0.0.1 9000
#   ockam tcp-outlet create --at n3 --from /service/outlet --to 127.0.0.1:9000
#   ockam tcp-inlet create --at n1 --from 127.0.0.1:6000 \
#       --to .../service/forward_to_n3/service/hop/service/outlet
#   curl --head 127.0.0.1:6000
#
# curl connects to the inlet on n1; each TCP stream is chunked into routing
# messages that travel to n2, through n3's relay back to n3, through its hop,
# to the outlet, which dials the web server. Replies take the return route.

variable "n2_port" {
  default     = 7000
  description = "the port n2 listens on"
}

variable "inlet_port" {
  default     = 6000
  description = "where n1's inlet takes connections"
}

variable "target_port" {
  default     = 9000
  description = "where the web service listens"
}

node "n2" {
  tcp_listener = "127.0.0.1:${var.n2_port}"
}

node "n3" {
  service "hop" {}

  relay "n3" {
    at = node.n2
  }

  tcp_outlet "outlet" {
    to = "127.0.0.1:${var.target_port}"
  }
}

node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:${var.inlet_port}"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}

check "uppercase through the relay" {
  from    = node.n1
  to      = "/node/n2/service/forward_to_n3/service/uppercase"
  send    = "hello"
  expect  = "HELLO"
  timeout = "5s"
}
