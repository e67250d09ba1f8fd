# An end-to-end secure channel over the relay: the portal of portal.hcl,
# with /secure/api in its route. n1 opens a secure channel to the listener
# "api" on n3, through n2 and n3's relay; the portal's messages travel
# inside it, so n2, which forwards every byte, sees ciphertext only.
#
#   ockam secure-channel-listener create api --at n3   (Ockam's default)
#   ockam tcp-inlet create --at n1 --from 127.0.0.1:6000 \
#       --to /node/n2/service/forward_to_n3/secure/api/service/outlet
#   curl --head 127.0.0.1:6000
#
# Each node has an identity; the listener trusts only n1's. A node without
# an identity file gets one kept under $OCKAMTOP_HOME/identities; give it
# one of its own with `ockamtop identity create n1.identity` and
# identity = "n1.identity".

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
  relay "n3" {
    at = node.n2
  }

  secure_channel_listener "api" {
    trust = [node.n1]
  }

  tcp_outlet "outlet" {
    to = "127.0.0.1:${var.target_port}"
  }
}

node "n1" {
  tcp_inlet "web" {
    from = "127.0.0.1:${var.inlet_port}"
    to   = "/node/n2/service/forward_to_n3/secure/api/service/outlet"
  }
}

check "uppercase through the secure channel" {
  from    = node.n1
  to      = "/node/n2/service/forward_to_n3/secure/api/service/uppercase"
  send    = "hello"
  expect  = "HELLO"
  timeout = "5s"
}
