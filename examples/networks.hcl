# The seeds' portal, on isolated networks: n1 is on office, n3 on
# factory, and n2 on both. n3 cannot be reached from n1 (nor from the
# host) except through n2's relay; `ockamtop validate` proves it, and
# apply makes it true with Linux network namespaces (run as root).
# curl 127.0.0.1:6000 reaches the web server that n3 starts in its own
# namespace.

variable "inlet_port" {
  default     = 6000
  description = "where curl reaches the web server, on the host"
}

network "office" {}

network "factory" {
  subnet = "198.18.1.0/24"
}

node "n1" {
  networks = [network.office]

  tcp_inlet "web" {
    from = "127.0.0.1:${var.inlet_port}"
    to   = "/node/n2/service/forward_to_n3/service/outlet"
  }
}

node "n2" {
  networks     = [network.office, network.factory]
  tcp_listener = "0.0.0.0:7000" # each of its network addresses
}

node "n3" {
  networks = [network.factory]

  relay "n3" {
    at = node.n2
  }

  tcp_outlet "outlet" {
    to = "127.0.0.1:9000"
  }

  exec "web" { # a process in n3's network namespace
    command  = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "9000"]
    wait_for = "127.0.0.1:9000"
  }
}

check "uppercase through the relay" {
  from   = node.n1
  to     = "/node/n2/service/forward_to_n3/service/uppercase"
  send   = "hello"
  expect = "HELLO"
}
