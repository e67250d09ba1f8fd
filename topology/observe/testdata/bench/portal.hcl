variable "target_port" {}
node "n2" {
  tcp_listener = "127.0.0.1:0"
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
    from = "127.0.0.1:0"
    to   = "/node/n2/service/forward_to_n3/service/hop/service/outlet"
  }
}
