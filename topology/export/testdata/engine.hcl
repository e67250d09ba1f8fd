# The engine test's topology: the seeds' portal inside a secure channel,
# on two networks. n1 (office) reaches n3 (factory) only through n2's
# relay; n3 serves the page itself, with the test image's /web.
variable "inlet_port" {
  default = 16000
}

network "office" {}
network "factory" {}

node "n1" {
  networks = [network.office]
  tcp_inlet "web" {
    from = "127.0.0.1:${var.inlet_port}"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/outlet"
  }
}

node "n2" {
  networks     = [network.office, network.factory]
  tcp_listener = "0.0.0.0:7000"
}

node "n3" {
  networks = [network.factory]
  relay "n3" {
    at = node.n2
  }
  secure_channel_listener "api" {
    trust = [node.n1]
  }
  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }
  exec "web" {
    command  = ["/web", "-serve", "127.0.0.1:9000"]
    wait_for = "127.0.0.1:9000"
  }
}

check "uppercase through the secure channel" {
  from    = node.n1
  to      = "/node/n2/service/forward_to_n3/secure/api/service/uppercase"
  send    = "hello"
  expect  = "HELLO"
  timeout = "60s"
}
