//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// Switch holds the networks: a namespace of its own with one bridge per
// network. Plugging a node into a network makes a veth pair inside the
// switch's namespace whose other end is moved straight into the node's,
// so that neither end ever exists in the host's namespace. Nothing routes
// between the bridges, and the nodes' namespaces have no route out: the
// traffic stays inside the namespaces the switch and its nodes are.
type Switch struct {
	ns *Namespace
	h  *netlink.Handle // netlink in the switch's namespace

	mu      sync.Mutex
	bridges map[string]netlink.Link // guarded by mu; by network name
	ports   int                     // guarded by mu; veth pairs made, to name the next
}

// NewSwitch makes the switch's namespace.
func NewSwitch() (*Switch, error) {
	ns, err := New()
	if err != nil {
		return nil, err
	}
	h, err := ns.handle()
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("switch: %w", err)
	}
	return &Switch{ns: ns, h: h, bridges: map[string]netlink.Link{}}, nil
}

// Namespace is the switch's namespace.
func (s *Switch) Namespace() *Namespace { return s.ns }

// AddNetwork makes a bridge for the network called name.
func (s *Switch) AddNetwork(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.bridges[name]; ok {
		return fmt.Errorf("network %s: exists already", name)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("br%d", len(s.bridges))}}
	if err := s.h.LinkAdd(br); err != nil {
		return fmt.Errorf("network %s: add bridge: %w", name, err)
	}
	if err := s.h.LinkSetUp(br); err != nil {
		return fmt.Errorf("network %s: bridge up: %w", name, err)
	}
	s.bridges[name] = br
	return nil
}

// Plug gives the node namespace ns an interface called ifname on the
// network, with the address addr (its prefix is the network's subnet).
func (s *Switch) Plug(ns *Namespace, network, ifname string, addr netip.Prefix) error {
	s.mu.Lock()
	br, ok := s.bridges[network]
	s.ports++
	port := fmt.Sprintf("p%d", s.ports)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("network %s: no such network", network)
	}
	ns.mu.RLock()
	f := ns.f
	if f == nil {
		ns.mu.RUnlock()
		return ErrClosed
	}
	// The node's end is made in the switch's namespace under the name it
	// will have, and moved at once: the kernel does both in one request.
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: br.Attrs().Index},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(int(f.Fd())),
	}
	err := s.h.LinkAdd(veth)
	ns.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("network %s: add veth pair for %s: %w", network, ifname, err)
	}
	if err := s.h.LinkSetUp(veth); err != nil {
		return fmt.Errorf("network %s: %s up: %w", network, port, err)
	}
	h, err := ns.handle()
	if err != nil {
		return fmt.Errorf("network %s: %w", network, err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("network %s: find %s: %w", network, ifname, err)
	}
	ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("network %s: address %s on %s: %w", network, addr, ifname, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("network %s: %s up: %w", network, ifname, err)
	}
	// The end that came up first gets its carrier from the kernel's
	// link watcher a moment later, and drops what it should send until
	// then: an ARP request lost there costs the first connection a
	// second. Wait until both ends say they are up.
	if err := waitOperUp(s.h, port); err != nil {
		return fmt.Errorf("network %s: %w", network, err)
	}
	if err := waitOperUp(h, ifname); err != nil {
		return fmt.Errorf("network %s: %w", network, err)
	}
	return nil
}

// operUpWait bounds the wait for a link to be operationally up: the link
// watcher runs at once for a veth, within a second for anything.
const operUpWait = 5 * time.Second

// waitOperUp polls the link called name until it is operationally up.
func waitOperUp(h *netlink.Handle, name string) error {
	deadline := time.Now().Add(operUpWait)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 50*time.Millisecond) {
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		if link.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up within %s: %s", name, operUpWait, link.Attrs().OperState)
		}
		time.Sleep(pause)
	}
}

// Close frees the switch's namespace, its bridges and the switch ends of
// every veth pair (which takes the nodes' ends with them).
func (s *Switch) Close() error {
	s.h.Close()
	return s.ns.Close()
}

// Prepare readies a node's namespace: its loopback up (so that a service
// in it can listen on 127.0.0.1), and no forwarding of packets between
// its interfaces, whatever the kernel's default for new namespaces: a
// node on two networks joins them at the application layer only.
func (ns *Namespace) Prepare() error {
	h, err := ns.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return ns.Do(func() error {
		// Files under /proc/sys/net are those of the namespace of the
		// thread that opens them.
		for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(p, []byte("0\n"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("turn off forwarding: %w", err)
			}
		}
		return nil
	})
}

// handle opens netlink sockets in the namespace: made on a thread inside
// it, they talk to it from any thread.
func (ns *Namespace) handle() (*netlink.Handle, error) {
	var h *netlink.Handle
	err := ns.Do(func() error {
		var err error
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return h, nil
}
