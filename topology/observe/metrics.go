// Package observe shows a running topology to people and to monitoring:
// Prometheus metrics, a live page of the topology's graph, and its status
// as JSON, served over HTTP by `ockamtop apply --http`.
//
// It reads the counters the node library keeps as plain atomics
// (runtime/counters.go) when it is asked, never on the data path: the node
// library does not know it exists.
package observe

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/udpportal"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// The metrics, all prefixed ockamtop_. A label that does not apply is
// empty (an inlet's series have outlet=""), which PromQL treats as absent.
var (
	descRouted = prometheus.NewDesc("ockamtop_messages_routed_total",
		"Messages delivered to a worker of the node (each local hop counts once).", []string{"node"}, nil)
	descDropped = prometheus.NewDesc("ockamtop_messages_dropped_total",
		"Messages the node could not deliver, by reason.", []string{"node", "reason"}, nil)
	descConnsOpen = prometheus.NewDesc("ockamtop_connections_open",
		"Open transport connections.", []string{"node", "transport"}, nil)
	descConnsOpened = prometheus.NewDesc("ockamtop_connections_opened_total",
		"Connections made or accepted.", []string{"node"}, nil)
	descConnBytes = prometheus.NewDesc("ockamtop_connection_bytes_total",
		"Bytes of frames read (in) and written (out) on an open connection.", []string{"node", "connection", "peer", "direction"}, nil)
	descConnFrames = prometheus.NewDesc("ockamtop_connection_frames_total",
		"Frames read (in) and written (out) on an open connection.", []string{"node", "connection", "peer", "direction"}, nil)
	transportLabels  = []string{"node", "transport"}
	descPacketsTotal = prometheus.NewDesc("ockamtop_transport_packets_total",
		"Datagrams read (in) and written (out) by a packet transport (UDP).", append(transportLabels[:2:2], "direction"), nil)
	descTransportMessages = prometheus.NewDesc("ockamtop_transport_messages_total",
		"Messages a packet transport put together from datagrams (in) and sent as datagrams (out).", append(transportLabels[:2:2], "direction"), nil)
	descTransportDropped = prometheus.NewDesc("ockamtop_transport_dropped_total",
		"Datagrams and messages a packet transport dropped, by reason.", append(transportLabels[:2:2], "reason"), nil)
	descTransportPeers = prometheus.NewDesc("ockamtop_transport_peers",
		"Peers a packet transport keeps.", transportLabels, nil)
	descHandshakes = prometheus.NewDesc("ockamtop_secure_channel_handshakes_total",
		"Secure channel handshakes: completed (either role), or refused (an untrusted initiator, or a listener that refused or did not confirm).", []string{"node", "result"}, nil)
	descSecureMessages = prometheus.NewDesc("ockamtop_secure_channel_messages_total",
		"Messages encrypted (out) and decrypted (in) by the node's secure channels.", []string{"node", "direction"}, nil)
	descDecryptFailures = prometheus.NewDesc("ockamtop_secure_channel_decrypt_failures_total",
		"Messages dropped because they did not decrypt (tampered, replayed) or held no message.", []string{"node"}, nil)
	descRekeys = prometheus.NewDesc("ockamtop_secure_channel_rekeys_total",
		"Encryption keys renewed, every 32 messages.", []string{"node"}, nil)
	descSecureOpen = prometheus.NewDesc("ockamtop_secure_channels_open",
		"Secure channel sides established now.", []string{"node"}, nil)
	descForwarders = prometheus.NewDesc("ockamtop_relay_forwarders",
		"Forwarders the node runs for other nodes' relays.", []string{"node"}, nil)

	portalLabels     = []string{"node", "inlet", "outlet"}
	descStreamsOpen  = prometheus.NewDesc("ockamtop_portal_streams_open", "Portal streams open.", portalLabels, nil)
	descStreamsTotal = prometheus.NewDesc("ockamtop_portal_streams_total", "Portal streams opened.", portalLabels, nil)
	descPortalBytes  = prometheus.NewDesc("ockamtop_portal_bytes_total",
		"Portal bytes: in, read from the local TCP sockets into the portal; out, from the portal written to them.",
		append(portalLabels[:3:3], "direction"), nil)
	descRefused = prometheus.NewDesc("ockamtop_portal_streams_refused_total",
		"TCP connections that got no stream (inlet: at its limit, route down, refused by the outlet; outlet: target unreachable).", portalLabels, nil)
	descStalls = prometheus.NewDesc("ockamtop_portal_credit_stalls_total",
		"Times a stream had data to send and waited for credit from the other end.", portalLabels, nil)

	descFlowsOpen  = prometheus.NewDesc("ockamtop_udp_portal_flows_open", "UDP portal flows open (a flow is a client address at an inlet).", portalLabels, nil)
	descFlowsTotal = prometheus.NewDesc("ockamtop_udp_portal_flows_total", "UDP portal flows opened.", portalLabels, nil)
	descDatagrams  = prometheus.NewDesc("ockamtop_udp_portal_datagrams_total",
		"UDP portal datagrams: in, read from the local UDP sockets into the portal; out, from the portal sent from them.",
		append(portalLabels[:3:3], "direction"), nil)
	descDatagramBytes = prometheus.NewDesc("ockamtop_udp_portal_bytes_total",
		"UDP portal bytes of datagrams, in and out as ockamtop_udp_portal_datagrams_total.", append(portalLabels[:3:3], "direction"), nil)
	descDatagramsDropped = prometheus.NewDesc("ockamtop_udp_portal_dropped_total",
		"UDP portal datagrams dropped here: a flow's queue full (a client sending faster than the route carries), a route down, a send that failed.", portalLabels, nil)
	descFlowsRefused = prometheus.NewDesc("ockamtop_udp_portal_flows_refused_total",
		"New flows turned away because the inlet or outlet held its most flows.", portalLabels, nil)
	descFlowsExpired = prometheus.NewDesc("ockamtop_udp_portal_flows_expired_total",
		"UDP portal flows ended after their idle timeout.", portalLabels, nil)

	relayLabels       = []string{"node", "relay", "at"}
	descRelayUp       = prometheus.NewDesc("ockamtop_relay_up", "1 while the relay is registered, 0 otherwise.", relayLabels, nil)
	descRegistrations = prometheus.NewDesc("ockamtop_relay_registrations_total", "Successful relay registrations.", relayLabels, nil)
	descReconnects    = prometheus.NewDesc("ockamtop_relay_reconnects_total",
		"Times a registered relay lost its connection and began to reconnect.", relayLabels, nil)
	descFailed = prometheus.NewDesc("ockamtop_relay_failed_attempts_total",
		"Attempts to connect and register the relay that failed.", relayLabels, nil)
	descRTT = prometheus.NewDesc("ockamtop_relay_round_trip_seconds",
		"Round trip of the relay's end-to-end checks, through the forwarder and back.", relayLabels, nil)

	descPartUp = prometheus.NewDesc("ockamtop_part_up",
		"1 while a part of a node runs as it should (a relay registered, a process running), 0 otherwise; a series a part, of every kind.",
		[]string{"node", "kind", "name"}, nil)

	descCheck = prometheus.NewDesc("ockamtop_check_ok",
		"1 if the check passed when apply ran it, 0 if it failed.", []string{"node", "check"}, nil)
)

// Collector is a prometheus.Collector of a running topology: at each
// scrape it reads the counters of the nodes, connections, portals and
// relays that run here.
type Collector struct {
	run *deploy.Running
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector collects the metrics of run.
func NewCollector(run *deploy.Running) *Collector { return &Collector{run: run} }

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRouted, descDropped, descConnsOpen, descConnsOpened, descConnBytes, descConnFrames, descForwarders,
		descPacketsTotal, descTransportMessages, descTransportDropped, descTransportPeers,
		descHandshakes, descSecureMessages, descDecryptFailures, descRekeys, descSecureOpen,
		descStreamsOpen, descStreamsTotal, descPortalBytes, descRefused, descStalls,
		descFlowsOpen, descFlowsTotal, descDatagrams, descDatagramBytes, descDatagramsDropped, descFlowsRefused, descFlowsExpired,
		descRelayUp, descRegistrations, descReconnects, descFailed, descRTT, descPartUp, descCheck,
	} {
		ch <- d
	}
}

// Collect reads the counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	// A label value from the file that the library refuses (not UTF-8)
	// becomes an error of the scrape, not a panic.
	send := func(d *prometheus.Desc, m prometheus.Metric, err error) {
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		send(d, m, err)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		send(d, m, err)
	}
	parts := c.run.Parts()
	for _, n := range parts.Nodes {
		name := n.Name()
		nc := n.Counters()
		counter(descRouted, nc.Routed, name)
		for i, reason := range runtime.DropReasons {
			counter(descDropped, nc.Dropped[i], name, reason)
		}
		counter(descConnsOpened, nc.ConnectionsOpened, name)
		open := map[string]int{"tcp": 0}
		for _, conn := range n.Transports().Connections() {
			open[strings.ToLower(conn.Transport().String())]++
			cc, ok := conn.(runtime.CountedConnection)
			if !ok {
				continue
			}
			s := cc.Counters()
			id, peer := conn.Address().Value, conn.RemoteAddr()
			counter(descConnBytes, s.BytesIn, name, id, peer, "in")
			counter(descConnBytes, s.BytesOut, name, id, peer, "out")
			counter(descConnFrames, s.FramesIn, name, id, peer, "in")
			counter(descConnFrames, s.FramesOut, name, id, peer, "out")
		}
		for transport, k := range open {
			gauge(descConnsOpen, float64(k), name, transport)
		}
		for _, tc := range n.Transports().Counters() {
			counter(descPacketsTotal, tc.PacketsIn, name, tc.Transport, "in")
			counter(descPacketsTotal, tc.PacketsOut, name, tc.Transport, "out")
			counter(descTransportMessages, tc.MessagesIn, name, tc.Transport, "in")
			counter(descTransportMessages, tc.MessagesOut, name, tc.Transport, "out")
			for reason, v := range tc.Dropped {
				counter(descTransportDropped, v, name, tc.Transport, reason)
			}
			gauge(descTransportPeers, float64(tc.Peers), name, tc.Transport)
		}
		gauge(descForwarders, float64(len(n.Forwarders())), name)
		if sc := parts.SecureChannels[name]; sc != nil {
			s := sc.Counters()
			counter(descHandshakes, s.Handshakes, name, "completed")
			counter(descHandshakes, s.Refused, name, "refused")
			counter(descSecureMessages, s.MessagesOut, name, "out")
			counter(descSecureMessages, s.MessagesIn, name, "in")
			counter(descDecryptFailures, s.DecryptFailures, name)
			counter(descRekeys, s.Rekeys, name)
			gauge(descSecureOpen, float64(s.Open), name)
		}
	}
	portal := func(pc portal.Counters, labels ...string) {
		gauge(descStreamsOpen, float64(pc.StreamsOpen), labels...)
		counter(descStreamsTotal, pc.Streams, labels...)
		counter(descPortalBytes, pc.BytesIn, append(labels, "in")...)
		counter(descPortalBytes, pc.BytesOut, append(labels, "out")...)
		counter(descRefused, pc.Refused, labels...)
		counter(descStalls, pc.CreditStalls, labels...)
	}
	for _, in := range parts.Inlets {
		portal(in.Inlet.Counters(), in.Node, in.Inlet.Name(), "")
	}
	for _, o := range parts.Outlets {
		portal(o.Outlet.Counters(), o.Node, "", o.Outlet.Name())
	}
	udpPortal := func(uc udpportal.Counters, labels ...string) {
		gauge(descFlowsOpen, float64(uc.FlowsOpen), labels...)
		counter(descFlowsTotal, uc.Flows, labels...)
		counter(descDatagrams, uc.DatagramsIn, append(labels, "in")...)
		counter(descDatagrams, uc.DatagramsOut, append(labels, "out")...)
		counter(descDatagramBytes, uc.BytesIn, append(labels, "in")...)
		counter(descDatagramBytes, uc.BytesOut, append(labels, "out")...)
		counter(descDatagramsDropped, uc.Dropped, labels...)
		counter(descFlowsRefused, uc.Refused, labels...)
		counter(descFlowsExpired, uc.Expired, labels...)
	}
	for _, in := range parts.UDPInlets {
		udpPortal(in.Inlet.Counters(), in.Node, in.Inlet.Name(), "")
	}
	for _, o := range parts.UDPOutlets {
		udpPortal(o.Outlet.Counters(), o.Node, "", o.Outlet.Name())
	}
	for _, rp := range parts.Relays {
		st := rp.Relay.Status()
		at := st.AtNode
		if at == "" {
			at = st.At
		}
		labels := []string{rp.Node, st.Name, at}
		up := 0.0
		if st.State == relay.Up {
			up = 1
		}
		gauge(descRelayUp, up, labels...)
		rc := rp.Relay.Counters()
		counter(descRegistrations, rc.Registrations, labels...)
		counter(descReconnects, rc.Reconnects, labels...)
		counter(descFailed, rc.FailedAttempts, labels...)
		buckets := make(map[float64]uint64, len(relay.RoundTripBuckets))
		for i, b := range relay.RoundTripBuckets {
			buckets[b] = rc.RoundTrip.Cumulative[i]
		}
		m, err := prometheus.NewConstHistogram(descRTT, rc.RoundTrip.Count, rc.RoundTrip.Sum.Seconds(), buckets, labels...)
		send(descRTT, m, err)
	}
	for node, states := range c.run.PartStates() {
		for _, p := range states {
			up := 0.0
			if p.State == "up" {
				up = 1
			}
			gauge(descPartUp, up, node, p.Kind, p.Name)
		}
	}
	from := map[string]string{}
	for _, tc := range c.run.Topology().Checks {
		from[tc.Name] = tc.From.Name
	}
	for _, res := range c.run.CheckResults() {
		ok := 0.0
		if res.OK {
			ok = 1
		}
		gauge(descCheck, ok, from[res.Name], res.Name)
	}
}

// lastRoundTrip shows a relay's last check round trip, "" before the first.
func lastRoundTrip(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
