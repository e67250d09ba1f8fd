# A UDP portal: a UDP service (DNS, syslog, a game server) on n3 reached
# from n1, through n2 and n3's relay, inside an end-to-end secure channel.
# Each client address that sends to the inlet is a flow: its datagrams go,
# one routing message each, to the outlet, which sends them to the target
# from a socket of the flow's own; the replies come back to that client.
# Ockam has no UDP portal; this is ockamtop's (docs/wire.md#udp-portals).
#
#   dig -p 5300 @127.0.0.1 example.com    (with a DNS server on 5353)
#
# A flow ends after idle_timeout without a datagram either way; the inlet
# holds at most max_flows clients at once.

variable "n2_port" {
  default     = 7000
  description = "the port n2 listens on"
}

variable "inlet_port" {
  default     = 5300
  description = "where n1's inlet takes datagrams"
}

variable "target_port" {
  default     = 5353
  description = "where the UDP service listens"
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

  udp_outlet "dns" {
    to = "127.0.0.1:${var.target_port}"
  }
}

node "n1" {
  udp_inlet "dns" {
    from         = "127.0.0.1:${var.inlet_port}"
    to           = "/node/n2/service/forward_to_n3/secure/api/service/dns"
    idle_timeout = "30s"
    max_flows    = 256
  }
}

check "uppercase through the secure channel" {
  from    = node.n1
  to      = "/node/n2/service/forward_to_n3/secure/api/service/uppercase"
  send    = "hello"
  expect  = "HELLO"
  timeout = "5s"
}
