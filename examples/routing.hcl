# Routing, from Ockam's "Routing and Transports" (seeds 001 and 002):
#
#   ockam node create n1
#   ockam message send hello --to /node/n1/service/echo
#   ockam message send hello --to /node/n1/service/hop/service/echo
#   ockam message send hello --to /node/n1/service/hop/service/hop/service/echo
#
# and the Rust examples 03-routing (h1 -> echoer) and 03-routing-many-hops
# (h1, h2, h3 -> echoer). Every node runs echo and uppercase; hop services
# are started on request. A hop pops itself off the onward route, pushes
# itself onto the return route, and forwards: the reply comes back through
# every hop.

node "n1" {
  service "hop" {}

  # The many-hops example names its hop workers.
  service "h1" {
    type = "hop"
  }
  service "h2" {
    type = "hop"
  }
  service "h3" {
    type = "hop"
  }
}

check "echo" {
  from   = node.n1
  to     = "/service/echo"
  send   = "hello"
  expect = "hello"
}

check "one hop" {
  from   = node.n1
  to     = "/service/hop/service/echo"
  send   = "hello"
  expect = "hello"
}

check "two hops" {
  from   = node.n1
  to     = "/service/hop/service/hop/service/echo"
  send   = "hello"
  expect = "hello"
}

check "many hops" {
  from   = node.n1
  to     = "/service/h1/service/h2/service/h3/service/echo"
  send   = "Hello Ockam!"
  expect = "Hello Ockam!"
}
